package configs

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/mxout/mxout/dkim"
)

func TestLoad_DKIMDomainsWithDots(t *testing.T) {
	t.Parallel()
	p := writeConfig(t, `
dkim:
  require: true
  domains:
    Example.COM:
      selector: rsa2026
      private_key_file: /k/rsa.pem
      algorithm: rsa-sha256
      keys:
        - {selector: ed2026, private_key_file: /k/ed.pem, algorithm: ed25519-sha256}
    mail.other.example:
      keys: [{selector: s1, private_key_file: /k/o.pem}]
      headers: [From, Subject]
`)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.DKIM.Domains) != 2 || !c.DKIM.Require {
		t.Fatalf("dkim = %+v", c.DKIM)
	}
	got := c.DKIM.Domains["example.com"].AllKeys()
	want := []DKIMKey{
		{Selector: "rsa2026", PrivateKeyFile: "/k/rsa.pem", Algorithm: dkim.AlgorithmRSA},
		{Selector: "ed2026", PrivateKeyFile: "/k/ed.pem", Algorithm: dkim.AlgorithmEd25519},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("example.com keys = %+v, want %+v", got, want)
	}
	other := c.DKIM.Domains["mail.other.example"]
	if len(other.AllKeys()) != 1 || strings.Join(other.Headers, ",") != "From,Subject" {
		t.Errorf("mail.other.example = %+v", other)
	}
	if h := c.DKIM.Headers; len(h) < 2 || h[0] != "From" || h[1] != "From" {
		t.Errorf("default headers %v: want From over-signed first", h)
	}

	out, err := Render(c)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Load(writeConfig(t, string(out)))
	if err != nil {
		t.Fatalf("rendered config does not load: %v\n%s", err, out)
	}
	// %+v, because an absent list loads as nil and a rendered one as [].
	if fmt.Sprintf("%+v", c.DKIM) != fmt.Sprintf("%+v", again.DKIM) {
		t.Errorf("render round trip changed dkim:\n%+v\n%+v\n%s", c.DKIM, again.DKIM, out)
	}
}

func TestLoad_DKIMBadValuesNameTheKey(t *testing.T) {
	t.Parallel()
	testRefused(t, []refused{
		{"require without domains", "dkim: {require: true}", "dkim.require"},
		{"headers without From", "dkim: {headers: [To, Subject]}", "dkim.headers"},
		{"empty headers", "dkim: {headers: []}", "dkim.headers"},
		{"bad header name", "dkim: {headers: [From, 'Sub ject']}", "dkim.headers[1]"},
		{"domain without key", "dkim: {domains: {example.com: {headers: [From]}}}", "dkim.domains.example.com"},
		{"selector without file", "dkim: {domains: {example.com: {selector: s1}}}", "dkim.domains.example.com.private_key_file"},
		{"file without selector", "dkim: {domains: {example.com: {private_key_file: /k}}}", "dkim.domains.example.com.selector"},
		{"bad selector", "dkim: {domains: {example.com: {selector: 'a b', private_key_file: /k}}}", "dkim.domains.example.com.selector"},
		{"bad algorithm", "dkim: {domains: {example.com: {selector: s, private_key_file: /k, algorithm: rsa-sha1}}}", "dkim.domains.example.com.algorithm"},
		{"bad extra key", "dkim: {domains: {example.com: {keys: [{selector: s, private_key_file: ''}]}}}", "dkim.domains.example.com.keys[0].private_key_file"},
		{"duplicate selector", "dkim: {domains: {example.com: {selector: s, private_key_file: /a, keys: [{selector: S, private_key_file: /b}]}}}", "selector twice"},
		{"domain headers without From", "dkim: {domains: {example.com: {selector: s, private_key_file: /a, headers: [To]}}}", "dkim.domains.example.com.headers"},
		{"bad domain", "dkim: {domains: {'exa mple.com': {selector: s, private_key_file: /a}}}", "dkim.domains.exa mple.com"},
		{"unknown key", "dkim: {domains: {example.com: {selecter: s}}}", "selecter"},
	})
}

func TestLoad_DKIMRequireFromEnv(t *testing.T) {
	p := writeConfig(t, "dkim: {domains: {example.com: {selector: s, private_key_file: /k}}}")
	t.Setenv("MXOUT_DKIM_REQUIRE", "true")
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if !c.DKIM.Require {
		t.Error("MXOUT_DKIM_REQUIRE=true not applied")
	}
}
