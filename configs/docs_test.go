package configs

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The error shown in docs/configuration.md is what `mxout config check`
// prints for the file it shows, word for word.
func TestDocs_ConfigurationErrorExample(t *testing.T) {
	doc, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```\n\\$ cat (\\S+)\n(.*?)\\$ mxout config check --config (\\S+)\n(mxout: [^\n]*)\n```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/configuration.md has no `mxout config check` error example")
	}
	file, content, want := string(m[1]), m[2], string(m[4])
	if string(m[3]) != file {
		t.Fatalf("the example shows %s and checks %s", file, m[3])
	}
	path := filepath.Join(t.TempDir(), file)
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = load(path, nil)
	if err == nil {
		t.Fatalf("%s loads", content)
	}
	if got := "mxout: " + strings.ReplaceAll(err.Error(), path, file); got != want {
		t.Errorf("config check of %s prints %q, the docs show %q", file, got, want)
	}
}

// What docs/configuration.md promises about config errors: each names
// its key, shows the bad value and says where it came from; a value of
// the wrong type is refused, not converted; a syntax error names the line.
func TestDocs_ConfigurationErrorsNameKeyAndValue(t *testing.T) {
	tests := []struct {
		yaml string
		want []string // all in the error
	}{
		{`delivery: {workers: -3}`, []string{"delivery.workers", "(got -3, line 1)"}},
		{`delivery: {retry: {initial: 5q}}`, []string{"delivery.retry.initial", `"5q"`, "(line 1)"}},
		{`queue: {badger: {memtable_bytes: 5XB}}`, []string{"queue.badger.memtable_bytes", `"5XB"`}},
		{"submission:\n  trusted_networks:\n    - 10.0.0.0/8\n    - bogus\n", []string{"submission.trusted_networks[1]", `"bogus"`, "(line 4)"}},
		{`log: {level: loud}`, []string{"log.level", `"loud"`}},
		{"\ndelivery: {workrs: 3}", []string{"unknown key delivery.workrs (line 2)"}},
		{"delivery:\n  workers: abc", []string{`delivery.workers: "abc" is not a whole number (line 2)`}},
		{`delivery: {workers: 2.5}`, []string{"delivery.workers: 2.5 is not a whole number"}},
		{`resolver: {timeout: 5}`, []string{"resolver.timeout: 5 is not a duration"}},
		{`dkim: {require: 1}`, []string{"dkim.require: 1 is not true or false"}},
		{`submission: {max_message_bytes: true}`, []string{"submission.max_message_bytes: true is not a size"}},
		{`hostname: true`, []string{"hostname: true is not text", `quote it ("true")`}},
		{`log: {level: 5}`, []string{`log.level: "5" must be one of`}},
		{`delivery: x`, []string{`delivery: "x" is not a mapping`}},
		{`sendmail: {aliases: [root]}`, []string{"sendmail.aliases: a list is not a mapping"}},
		{`submission: {listeners: x}`, []string{`submission.listeners: "x" is not a list`}},
		{`submission: {users: {a: b}}`, []string{"submission.users: a mapping is not a list"}},
		{"delivery:\n  workers: [", []string{"line 2"}},
	}
	for _, tt := range tests {
		path := filepath.Join(t.TempDir(), "mxout.yaml")
		if err := os.WriteFile(path, []byte(tt.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := load(path, nil)
		if err == nil {
			t.Errorf("%q: accepted", tt.yaml)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error %q does not contain %s", tt.yaml, err, w)
			}
		}
	}
}

// Errors about values from the environment name the variable, and a
// variable that sets no key is an error naming it, as the docs say.
func TestDocs_ConfigurationEnvironmentErrors(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		env  string
		want string
	}{
		{"MXOUT_DELIVERY_WORKRS=3", "MXOUT_DELIVERY_WORKRS: sets no config key (did you mean MXOUT_DELIVERY_WORKERS, delivery.workers?)"},
		{"MXOUT_DELIVERY_WORKERS=lots", `delivery.workers: "lots" is not a whole number (from MXOUT_DELIVERY_WORKERS)`},
		{"MXOUT_DELIVERY_WORKERS=-1", "delivery.workers: must be between 1 and 10000 (got -1, from MXOUT_DELIVERY_WORKERS)"},
		{"MXOUT_SUBMISSION_LISTENERS=127.0.0.1:25", "MXOUT_SUBMISSION_LISTENERS: submission.listeners is a list of mappings, which cannot be set from the environment"},
		{"MXOUT_DKIM_DOMAINS_EXAMPLE_COM_SELECTOR=s1", "MXOUT_DKIM_DOMAINS_EXAMPLE_COM_SELECTOR: dkim.domains is a map, which cannot be set from the environment"},
		{"MXOUT_NOTHING=1", "MXOUT_NOTHING: sets no config key"},
	}
	for _, tt := range tests {
		_, err := load("", []string{tt.env})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.env, err, tt.want)
		}
	}
	if !strings.Contains(strings.Join(strings.Fields(string(doc)), " "), "`"+tests[0].want+"`") {
		t.Errorf("docs/configuration.md does not quote the error for %s: %s", tests[0].env, tests[0].want)
	}
	// MXOUT_CONFIG names the file; it is not a key.
	if _, err := load("", []string{"MXOUT_CONFIG=/x.yaml"}); err != nil {
		t.Errorf("MXOUT_CONFIG: %v", err)
	}
}

// Every key but the lists of mappings and the maps can be set from the
// environment, lists as comma-separated values; docs/configuration.md
// names the exceptions.
func TestDocs_ConfigurationNamesTheKeysTheEnvironmentCannotSet(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(strings.Fields(string(doc)), " ")
	_, after, ok := strings.Cut(text, "Every key can be set this way except")
	sentence, _, _ := strings.Cut(after, ").")
	if !ok {
		t.Fatal(`docs/configuration.md has no "Every key can be set this way except" sentence`)
	}
	named := regexp.MustCompile("`([a-z_.]+)`").FindAllStringSubmatch(sentence, -1)
	var got []string
	for _, m := range named {
		got = append(got, m[1])
	}
	want := slices.Sorted(maps.Keys(EnvUnsettable()))
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("the docs name %v as not settable from the environment, the schema has %v", got, want)
	}

	c, err := load("", []string{
		"MXOUT_RESOLVER_SERVERS=10.0.0.53:53, 10.0.0.54:53",
		"MXOUT_SUBMISSION_TRUSTED_NETWORKS=10.0.0.0/8,192.0.2.1",
		"MXOUT_DKIM_HEADERS=From,To,Subject",
		"MXOUT_DELIVERY_WORKERS=7",
		"MXOUT_ADMIN_LISTEN=", // empty: unset
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(c.Resolver.Servers, c.Submission.TrustedNetworks, c.DKIM.Headers, c.Delivery.Workers, c.Admin.Listen); got != "[10.0.0.53:53 10.0.0.54:53] [10.0.0.0/8 192.0.2.1/32] [From To Subject] 7 127.0.0.1:8025" {
		t.Errorf("from the environment: %s", got)
	}
}
