package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/dkim"
	"github.com/mxout/mxout/resolver/dnstest"
)

// runCmd runs the mxout command line with args and returns its output.
func runCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRoot(testPaths(t))
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

// zoneRecord returns the one non-comment line of keygen's output, parsed.
func zoneRecord(t *testing.T, out string) *dns.TXT {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if line == "" || strings.HasPrefix(line, ";") {
			continue
		}
		rr, err := dns.NewRR(line)
		if err != nil {
			t.Fatalf("keygen printed %q, not a zone-file line: %v", line, err)
		}
		return rr.(*dns.TXT)
	}
	t.Fatalf("keygen printed no record:\n%s", out)
	return nil
}

func TestDKIMKeygen(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		alg  string
	}{
		{name: "rsa default", args: nil, alg: dkim.AlgorithmRSA},
		{name: "rsa 1024", args: []string{"--bits", "1024"}, alg: dkim.AlgorithmRSA},
		{name: "ed25519", args: []string{"--algorithm", "ed25519-sha256"}, alg: dkim.AlgorithmEd25519},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			keyFile := filepath.Join(t.TempDir(), "k.pem")
			args := append([]string{"dkim", "keygen", "--domain", "Example.COM.", "--selector", "mx2026", "--out", keyFile}, tt.args...)
			out, err := runCmd(t, args...)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			st, err := os.Stat(keyFile)
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("key file: %v, mode %v; want 0600", err, st.Mode())
			}
			key, err := dkim.LoadKey(dkim.KeyConfig{Selector: "mx2026", PrivateKeyFile: keyFile, Algorithm: tt.alg})
			if err != nil {
				t.Fatal(err)
			}
			txt := zoneRecord(t, out)
			if txt.Hdr.Name != "mx2026._domainkey.example.com." {
				t.Errorf("record name %s", txt.Hdr.Name)
			}
			for _, s := range txt.Txt {
				if len(s) > 255 {
					t.Errorf("a TXT string of %d octets", len(s))
				}
			}
			rec, err := dkim.ParseRecord(strings.Join(txt.Txt, ""))
			if err != nil || !rec.Matches(key.Signer.Public()) {
				t.Errorf("the printed record does not publish the written key: %v", err)
			}
			if !strings.Contains(out, "private_key_file: "+keyFile) || !strings.Contains(out, "algorithm: "+tt.alg) {
				t.Errorf("no config lines in the output:\n%s", out)
			}
			// A second run must not replace the key.
			before, _ := os.ReadFile(keyFile)
			if _, err := runCmd(t, args...); err == nil || !strings.Contains(err.Error(), "not overwriting") {
				t.Errorf("second keygen: %v; want a refusal", err)
			}
			if after, _ := os.ReadFile(keyFile); !bytes.Equal(before, after) {
				t.Error("the key file changed")
			}
		})
	}
}

func TestDKIMKeygen_BadArguments(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "no selector", args: []string{"--domain", "example.com"}, wantErr: "selector"},
		{name: "bad domain", args: []string{"--domain", "exa mple.com", "--selector", "s"}, wantErr: "--domain"},
		{name: "bad selector", args: []string{"--domain", "example.com", "--selector", "a/b"}, wantErr: "--selector"},
		{name: "bits with ed25519", args: []string{"--domain", "example.com", "--selector", "s", "--algorithm", "ed25519-sha256", "--bits", "2048"}, wantErr: "--bits"},
		{name: "small rsa", args: []string{"--domain", "example.com", "--selector", "s", "--bits", "512"}, wantErr: "512"},
		{name: "unknown algorithm", args: []string{"--domain", "example.com", "--selector", "s", "--algorithm", "rsa-sha1"}, wantErr: "rsa-sha1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".pem")
			_, err := runCmd(t, append([]string{"dkim", "keygen", "--out", out}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("keygen %v: %v; want an error with %q", tt.args, err, tt.wantErr)
			}
			if _, err := os.Stat(out); err == nil {
				t.Error("a key file was written")
			}
		})
	}
}

func TestDKIMCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := dnstest.NewServer(t, nil)
	keys := map[string]string{}
	// keygen writes a key for selector to file and, if publish, serves the
	// record it prints.
	keygen := func(selector, file string, publish bool) {
		t.Helper()
		out, err := runCmd(t, "dkim", "keygen", "--domain", "check.example", "--selector", selector,
			"--algorithm", "ed25519-sha256", "--out", file)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if publish {
			txt := zoneRecord(t, out)
			srv.Set(txt.Hdr.Name, dnstest.Record{Type: "TXT", Value: `"` + strings.Join(txt.Txt, `" "`) + `"`})
		}
	}
	for _, sel := range []string{"good", "unpublished", "stale"} {
		keys[sel] = filepath.Join(dir, sel+".pem")
		keygen(sel, keys[sel], sel == "good")
	}
	keygen("stale", filepath.Join(dir, "replaced.pem"), true) // DNS has another key than the config

	cfg := func(selectors ...string) *configs.Config {
		t.Helper()
		var b strings.Builder
		fmt.Fprintf(&b, "resolver: {servers: [%q], timeout: 2s}\ndkim:\n  domains:\n    check.example:\n      keys:\n", srv.Addr)
		for _, s := range selectors {
			fmt.Fprintf(&b, "        - {selector: %s, private_key_file: %q}\n", s, keys[s])
		}
		p := filepath.Join(t.TempDir(), "mxout.yaml")
		if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := configs.Load(p)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		name      string
		selectors []string
		domain    string
		wantErr   string // "" means success
		wantOut   []string
	}{
		{name: "published", selectors: []string{"good"}, domain: "check.example", wantOut: []string{"good._domainkey.check.example: OK"}},
		{name: "all domains", selectors: []string{"good"}, wantOut: []string{"good._domainkey.check.example: OK"}},
		{name: "missing and stale", selectors: []string{"good", "unpublished", "stale"}, domain: "Check.Example",
			wantErr: "2 of 3", wantOut: []string{"good._domainkey.check.example: OK", "unpublished._domainkey.check.example: FAIL", "NXDOMAIN", "stale._domainkey.check.example: FAIL", "not the public half"}},
		{name: "unknown domain", selectors: []string{"good"}, domain: "other.example", wantErr: "no entry for other.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			err := dkimCheck(context.Background(), &out, cfg(tt.selectors...), tt.domain)
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("dkimCheck = %v; want error %q\n%s", err, tt.wantErr, out.String())
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output does not say %q:\n%s", w, out.String())
				}
			}
		})
	}
}

func TestDKIMConfig_HeadersFallBackToTheSection(t *testing.T) {
	t.Parallel()
	c := &configs.Config{DKIM: configs.DKIM{
		Require: true,
		Headers: []string{"From", "From", "Subject"},
		Domains: map[string]configs.DKIMDomain{
			"b.example": {Selector: "s", PrivateKeyFile: "/b", Keys: []configs.DKIMKey{{Selector: "t", PrivateKeyFile: "/t", Algorithm: "ed25519-sha256"}}},
			"a.example": {Keys: []configs.DKIMKey{{Selector: "s", PrivateKeyFile: "/a"}}, Headers: []string{"From"}},
		},
	}}
	got := dkimConfig(c)
	want := dkim.Config{Require: true, Domains: []dkim.DomainConfig{
		{Domain: "a.example", Headers: []string{"From"}, Keys: []dkim.KeyConfig{{Selector: "s", PrivateKeyFile: "/a"}}},
		{Domain: "b.example", Headers: []string{"From", "From", "Subject"}, Keys: []dkim.KeyConfig{
			{Selector: "s", PrivateKeyFile: "/b"}, {Selector: "t", PrivateKeyFile: "/t", Algorithm: "ed25519-sha256"}}},
	}}
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Errorf("dkimConfig =\n%+v\nwant\n%+v", got, want)
	}
}
