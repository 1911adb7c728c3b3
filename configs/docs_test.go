package configs

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The error shown in docs/configuration.md is what `mxout config check`
// prints for that file, word for word.
func TestDocs_ConfigurationErrorExample(t *testing.T) {
	doc, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```\n\\$ mxout config check --config (\\S+)\n(mxout: [^\n]*)\n```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/configuration.md has no `mxout config check` error example")
	}
	file, want := string(m[1]), string(m[2])
	t.Chdir(t.TempDir())
	if err := os.WriteFile(file, []byte("delivery: {workers: -3}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(file)
	if err == nil || "mxout: "+err.Error() != want {
		t.Errorf("config check of %s prints %q, the docs show %q", file, "mxout: "+err.Error(), want)
	}
}

// What docs/configuration.md promises about config errors: each names
// its key, and a bad value is shown, except in the two cases it lists
// (a wrong YAML type names the wanted type, a syntax error the line).
func TestDocs_ConfigurationErrorsNameKeyAndValue(t *testing.T) {
	tests := []struct {
		yaml string
		want []string // all in the error
	}{
		{`delivery: {workers: -3}`, []string{"delivery.workers", "(got -3)"}},
		{`delivery: {retry: {initial: 5q}}`, []string{"delivery.retry.initial", `"5q"`}},
		{`queue: {badger: {memtable_bytes: 5XB}}`, []string{"queue.badger.memtable_bytes", `"5XB"`}},
		{`submission: {trusted_networks: [bogus]}`, []string{"submission.trusted_networks[0]", `"bogus"`}},
		{`log: {level: loud}`, []string{"log.level", `"loud"`}},
		{`delivery: {workrs: 3}`, []string{"unknown key delivery.workrs"}},
		{`delivery: {workers: abc}`, []string{"delivery.workers", "int"}},
		{"delivery:\n  workers: [", []string{"line 2"}},
	}
	for _, tt := range tests {
		path := filepath.Join(t.TempDir(), "mxout.yaml")
		if err := os.WriteFile(path, []byte(tt.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path)
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
