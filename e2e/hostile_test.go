package e2e

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/internal/testwait"
)

// peakRSS returns the process's peak resident set size (VmHWM) in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

// TestServe_GiantGreetingKeepsMemory: an MX that streams a 300 MB
// greeting with no line end used to take the relay from 24 MB to 800 MB
// of memory. The relay stops reading at 2,000 octets, defers the mail as
// "reply too long", and its peak memory stays where it was.
func TestServe_GiantGreetingKeepsMemory(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mx := e.mx("giant.example", 10, smtptest.Options{})
	mx.SetHostile(&smtptest.Hostile{Stage: smtptest.AtGreeting, Mode: smtptest.GiantLine, Limit: 300 << 20})
	r := e.newRelay(map[string]any{"delivery": map[string]any{
		"retry": map[string]any{"initial": "1h", "max_interval": "1h"},
	}}).start()
	if _, err := r.send("app@sender.example", []string{"u@giant.example"}, message("giant")); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 30*time.Second, "a 4.5.0 \"reply too long\" deferral; log:\n"+r.logs(), func() bool {
		for _, l := range strings.Split(r.logs(), "\n") {
			if strings.Contains(l, `"to":"u@giant.example"`) && strings.Contains(l, `"dsn":"4.5.0"`) && strings.Contains(l, "reply too long") {
				return true
			}
		}
		return false
	})
	peak := peakRSS(t, r.cmd.Process.Pid)
	t.Logf("peak RSS during a 300 MB greeting: %.1f MiB; the MX sent %d octets before the relay hung up", float64(peak)/(1<<20), mx.HostileSent())
	if peak > 150<<20 {
		t.Errorf("peak RSS %d MiB: the relay read the giant greeting", peak>>20)
	}
	if sent := mx.HostileSent(); sent > 64<<20 {
		t.Errorf("the MX got %d octets of its greeting out; the relay kept reading", sent)
	}
}
