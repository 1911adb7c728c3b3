package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/mxout/mxout/configs"
)

// The keys a SIGHUP cannot apply are the changed ones no reloader covers.
func TestNeedRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	load := func(yaml string) *configs.Config {
		t.Helper()
		path := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := configs.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	running := load("hostname: relay.example\ndelivery: {workers: 8}\n")
	next := load("hostname: relay.example\ndelivery: {workers: 9}\ndkim: {headers: [From]}\nsubmission: {users_file: /x.yaml, max_recipients: 5}\n")
	got := needRestart(running, next, []string{"dkim", "submission.users", "submission.users_file"})
	if want := []string{"submission.max_recipients", "delivery.workers"}; !slices.Equal(got, want) {
		t.Errorf("needRestart = %q, want %q", got, want)
	}
}
