package e2e

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mxout/mxout/internal/testwait"
)

// SIGHUP applies what it can and names, in one WARN line, every changed
// key that needs a restart, again at every SIGHUP until then; keys that
// are reloaded are not named.
func TestReload_WarnsOfKeysThatNeedARestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.newRelay(nil).start()
	warnings := func() []map[string]any {
		var out []map[string]any
		for _, l := range logLines(t, r, "reload on SIGHUP: changed keys need a restart to take effect; until then the relay runs with their old values") {
			if l["level"] == "WARN" {
				out = append(out, l)
			}
		}
		return out
	}
	reloaded := func() int { return len(logLines(t, r, "reloaded on SIGHUP")) }

	// Nothing changed: no warning.
	before := reloaded()
	r.cmd.Process.Signal(syscall.SIGHUP)
	testwait.For(t, 10*time.Second, "the reload", func() bool { return reloaded() > before })
	if w := warnings(); len(w) != 0 {
		t.Fatalf("a SIGHUP with nothing changed warned: %v", w)
	}

	// Two keys that need a restart, one reloaded section and a secret.
	merge(r.config, map[string]any{
		"delivery": map[string]any{"workers": 3, "smarthost": map[string]any{"address": "smarthost.example:587", "username": "u", "password": "hunter2-secret"}},
		"log":      map[string]any{"level": "info"},
		"dkim":     map[string]any{"headers": []any{"From", "To", "Subject"}},
	})
	r.writeConfig()
	for round := 1; round <= 2; round++ {
		before := reloaded()
		r.cmd.Process.Signal(syscall.SIGHUP)
		testwait.For(t, 10*time.Second, "the WARN line", func() bool { return len(warnings()) == round && reloaded() > before })
	}
	w := warnings()
	want := "delivery.workers delivery.smarthost.address delivery.smarthost.username delivery.smarthost.password log.level"
	if got, _ := w[1]["keys"].(string); got != want {
		t.Errorf("keys=%q, want %q", got, want)
	}
	if strings.Contains(r.logs(), "hunter2-secret") {
		t.Error("the log shows the smarthost password")
	}
}
