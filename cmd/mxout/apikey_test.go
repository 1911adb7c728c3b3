package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxout/mxout/api"
	"github.com/mxout/mxout/configs"
)

func runAPIKeyNew(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"api-key", "new"}, args...))
	err := root.Execute()
	return out.String(), err
}

// The printed entry, pasted under api.keys, loads, and its hash is the
// printed token's.
func TestAPIKeyNew_EntryLoads(t *testing.T) {
	t.Parallel()
	out, err := runAPIKeyNew(t, "billing", "--allowed-sender", "*@billing.example.com", "--allowed-sender", "ops@example.com")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out, "\n")
	token := lines[1]
	if !strings.HasPrefix(token, "mxo_") {
		t.Fatalf("second line %q is not the token:\n%s", token, out)
	}
	entry := out[strings.Index(out, "    - name:"):]
	cfg := "api:\n  listen: 127.0.0.1:8080\n  keys:\n" + entry
	path := filepath.Join(t.TempDir(), "mxout.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := configs.Load(path)
	if err != nil {
		t.Fatalf("the printed entry does not load: %v\n%s", err, cfg)
	}
	k := c.API.Keys[0]
	if k.Name != "billing" || k.TokenSHA256 != api.TokenSHA256(token) || len(k.AllowedSenders) != 2 || k.AllowedSenders[0] != "*@billing.example.com" {
		t.Errorf("loaded key %+v for token %s", k, token)
	}
	if strings.Contains(out, "may send as no one") {
		t.Errorf("warned about senders that were given:\n%s", out)
	}
	again, _ := runAPIKeyNew(t, "billing")
	if strings.Split(again, "\n")[1] == token {
		t.Error("two runs printed the same token")
	}
	if !strings.Contains(again, "may send as no one") {
		t.Errorf("no warning for a key without senders:\n%s", again)
	}
}

func TestAPIKeyNew_RefusesBadInput(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"bad name"}, {"ok", "--allowed-sender", "@"}, {}} {
		if out, err := runAPIKeyNew(t, args...); err == nil {
			t.Errorf("api-key new %q accepted:\n%s", args, out)
		}
	}
}
