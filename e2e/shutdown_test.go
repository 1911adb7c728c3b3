package e2e

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mxout/mxout/admin"
	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/internal/testwait"
)

// sendMarkers submits n messages, one marker each, and fails the test on
// any refusal.
func sendMarkers(t *testing.T, r *relay, prefix string, n int) []string {
	t.Helper()
	var markers []string
	for i := 0; i < n; i++ {
		m := fmt.Sprintf("%s-%d", prefix, i)
		if _, err := r.send("app@sender.example", []string{"u@stop.example"}, message(m)); err != nil {
			t.Fatal(err)
		}
		markers = append(markers, m)
	}
	return markers
}

// TestServe_SIGTERMFinishesInFlightNoDuplicates stops the relay while
// deliveries sit in DATA: they finish before the process exits, nothing
// new starts, and after a restart every message arrives exactly once.
func TestServe_SIGTERMFinishesInFlightNoDuplicates(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mx := e.mx("stop.example", 10, smtptest.Options{})
	mx.SetDataDelay(time.Second)
	adminAddr, over := adminOverrides(t)
	over["delivery"] = map[string]any{"workers": 4, "shutdown_timeout": "20s"}
	r := e.newRelay(over).start()
	markers := sendMarkers(t, r, "term", 12) // four start at once, eight wait
	testwait.For(t, 15*time.Second, "four deliveries in DATA", func() bool { return mx.Active() == 4 })
	if err := r.stop(); err != nil {
		t.Fatalf("SIGTERM exit: %v\n%s", err, r.logs())
	}
	got := arrivals(mx)
	if len(got) != 4 {
		t.Errorf("%d messages arrived by the time the relay exited, want the 4 in flight: %v", len(got), got)
	}
	if strings.Contains(r.logs(), "aborted") {
		t.Errorf("a delivery was aborted although shutdown_timeout was long enough:\n%s", r.logs())
	}

	r.start()
	testwait.For(t, 30*time.Second, "all messages to arrive after the restart", func() bool { return len(missing(mx, markers)) == 0 })
	waitEmpty(t, admin.NewClient(adminAddr, ""), 10*time.Second)
	time.Sleep(2 * time.Second) // longer than lease_duration: a stray lease would show as a second arrival
	for m, n := range arrivals(mx) {
		if n != 1 {
			t.Errorf("%s arrived %d times after a clean shutdown and restart, want once", m, n)
		}
	}
	if err := r.stop(); err != nil {
		t.Error(err)
	}
}

// TestServe_SIGTERMDeadlineReturnsTheRest stops the relay while a delivery
// takes longer than delivery.shutdown_timeout: the process exits at the
// deadline without waiting for it, and the messages are delivered after
// the restart.
func TestServe_SIGTERMDeadlineReturnsTheRest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mx := e.mx("stop.example", 10, smtptest.Options{})
	// Until the relay has stopped, the MX keeps every reply to the final
	// dot, and the message unrecorded, until the test ends: the deliveries
	// in flight can end only by the relay's deadline, however slow the
	// machine (a fixed delay lost that race on a loaded one).
	hold := make(chan struct{})
	var holding atomic.Bool
	holding.Store(true)
	var held atomic.Int32
	mx.OnMessage(func(smtptest.Message) {
		if holding.Load() {
			held.Add(1)
			<-hold
		}
	})
	t.Cleanup(func() { close(hold) }) // before the MX closes
	adminAddr, over := adminOverrides(t)
	over["delivery"] = map[string]any{"workers": 2, "shutdown_timeout": "1s"}
	r := e.newRelay(over).start()
	markers := sendMarkers(t, r, "deadline", 2)
	testwait.For(t, 15*time.Second, "two deliveries waiting for the reply to their final dot", func() bool { return held.Load() == 2 })
	if err := r.stop(); err != nil {
		t.Fatalf("the relay did not stop at delivery.shutdown_timeout while its deliveries waited for the MX: %v\n%s", err, r.logs())
	}
	if !strings.Contains(r.logs(), "deliveries still running were aborted") {
		t.Errorf("no line says the deliveries still running were aborted:\n%s", r.logs())
	}
	holding.Store(false)
	r.start()
	testwait.For(t, 30*time.Second, "the aborted deliveries to be made after the restart", func() bool { return len(missing(mx, markers)) == 0 })
	// Empty means the restarted relay completed them itself: the
	// destination may also have kept what the aborted sessions sent
	// (at least once: such a duplicate is allowed).
	waitEmpty(t, admin.NewClient(adminAddr, ""), 15*time.Second)
	if err := r.stop(); err != nil {
		t.Error(err)
	}
}
