package delivery

import (
	"slices"
	"testing"
	"time"

	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/events"
	"github.com/mxout/mxout/internal/testwait"
	"github.com/mxout/mxout/queue"
)

// holdData makes mx hold every message it accepts before its 250 until
// the test calls the returned release (or ends); entered receives one
// value per message held.
func holdData(t *testing.T, mx *smtptest.Server) (entered <-chan struct{}, release func()) {
	in := make(chan struct{}, 16)
	out := make(chan struct{})
	mx.OnMessage(func(smtptest.Message) {
		in <- struct{}{}
		<-out
	})
	var released bool
	release = func() {
		if !released {
			released = true
			close(out)
		}
	}
	t.Cleanup(release) // before the server's Close, which waits for handlers
	return in, release
}

// TestDeliver_ResultsWrittenPerDestination: each destination's results
// are on disk as soon as its transaction ends, while the round goes on
// with the next destination, so a crash there would repeat only the
// transaction in flight; the round's failures wait for its end, and the
// notifier sees every part before it is written.
func TestDeliver_ResultsWrittenPerDestination(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.oneAttempt()
	w.mx("a.example", 10, smtptest.Options{})
	b := w.mx("b.example", 10, smtptest.Options{})
	c := w.mx("c.example", 10, smtptest.Options{})
	b.SetRcpt("gone@b.example", &smtptest.Reply{Code: 550, Enhanced: [3]int{5, 1, 1}, Message: "no such user"})
	b.SetRcpt("busy@b.example", &smtptest.Reply{Code: 452, Enhanced: [3]int{4, 2, 2}, Message: "mailbox full"})
	entered, release := holdData(t, c)
	w.cfg.Events = &events.Recorder{}
	w.start()
	id := w.enqueue("app@sender.example", "x@a.example", "y@b.example", "gone@b.example", "busy@b.example", "z@c.example")

	<-entered // the round is in its last destination's DATA
	m, err := w.q.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]queue.State{
		"x@a.example": queue.Delivered, "y@b.example": queue.Delivered, "busy@b.example": queue.Pending,
		"gone@b.example": queue.Pending, "z@c.example": queue.Pending,
	}
	for _, rc := range m.Recipients {
		if rc.State != want[rc.Addr] {
			t.Errorf("on disk during the round: %s %v, want %v", rc.Addr, rc.State, want[rc.Addr])
		}
	}
	if rc := m.Recipients[3]; rc.Attempts != 1 || rc.Status != "4.2.2" {
		t.Errorf("the deferral was not written with its destination: %+v", rc)
	}
	if rc := m.Recipients[2]; rc.Attempts != 0 {
		t.Errorf("the failure was written before the round's end: %+v", rc)
	}
	if !w.q.Leased(id) {
		t.Error("the lease ended with the first destination")
	}
	// The events of what was written are written with it, and only those.
	var written []string
	recs, err := w.q.Events(0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		e, err := events.Decode(r.Data)
		if err != nil {
			t.Fatal(err)
		}
		written = append(written, string(e.Type)+" "+e.Recipient)
	}
	if want := []string{"delivered x@a.example", "delivered y@b.example", "deferred busy@b.example"}; !slices.Equal(written, want) {
		t.Errorf("events on disk during the round: %q, want %q", written, want)
	}
	release()
	final := w.waitFinal(id, 4, 10*time.Second)
	if r := final["gone@b.example"]; r.State != queue.Failed || r.Status != "5.1.1" {
		t.Errorf("gone@b.example: %+v", r)
	}

	rounds := w.notes.allRounds()
	if len(rounds) != 3 || !rounds[0].Partial || !rounds[1].Partial || rounds[2].Partial {
		t.Fatalf("the notifier saw %d parts; want a, b partial, then the round's end", len(rounds))
	}
	for _, r := range rounds[:2] {
		for _, res := range r.Results {
			if res.State == queue.Failed {
				t.Errorf("a partial round holds a failure: %+v", res)
			}
		}
	}
	if got := rounds[1].Message.Recipients[0].State; got != queue.Delivered {
		t.Errorf("the second part's message shows a.example's recipient %v; want it as written, delivered", got)
	}
	var last []string
	for _, res := range rounds[2].Results {
		last = append(last, rounds[2].Message.Recipients[res.Index].Addr)
	}
	if len(last) != 2 || last[0] != "gone@b.example" || last[1] != "z@c.example" {
		t.Errorf("the round's end reported %v; want the failure and the last destination", last)
	}
	m, err = w.q.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	for _, rc := range m.Recipients {
		if rc.Attempts != 1 {
			t.Errorf("%s: %d attempts recorded, want 1", rc.Addr, rc.Attempts)
		}
	}
}

// TestDeliver_OneDestinationRoundsWriteOnce: a message for one
// destination is written once, at the round's end, as before.
func TestDeliver_OneDestinationRoundsWriteOnce(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.mx("one.example", 10, smtptest.Options{})
	w.start()
	id := w.enqueue("app@sender.example", "a@one.example", "b@one.example")
	w.waitFinal(id, 2, 10*time.Second)
	testwait.For(t, 5*time.Second, "the round written", func() bool { return !w.q.Leased(id) })
	if rounds := w.notes.allRounds(); len(rounds) != 1 || rounds[0].Partial {
		t.Errorf("%d parts; want the round whole", len(rounds))
	}
}
