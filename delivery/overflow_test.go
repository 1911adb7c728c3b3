package delivery

import (
	"fmt"
	"testing"
	"time"

	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/queue"
)

func TestOverflowTurn_PacedByTheDestination(t *testing.T) {
	t.Parallel()
	p := newPool(0, time.Second)
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	const max = 4
	if _, full := p.overflowTurn("d.example", "m0", max, 0, now); full {
		t.Fatal("an unknown destination has a full line")
	}
	p.mu.Lock()
	st := p.state("d.example")
	st.open, st.waiters = max, max-1
	p.mu.Unlock()
	if _, full := p.overflowTurn("d.example", "m0", max, 0, now); full {
		t.Fatal("a line shorter than the cap is full")
	}
	p.mu.Lock()
	st.waiters = max
	p.mu.Unlock()
	if turn, full := p.overflowTurn("d.example", "m0", max, 0, now); !full || turn != now.Add(unmeasuredWait) {
		t.Fatalf("before any measurement: %v (full %v), want a retry in %v", turn.Sub(now), full, unmeasuredWait)
	}
	p.observe("d.example", 2*time.Second) // a slot frees every 2s/4 = 500 ms

	// The first turn comes after the line ahead (4 waiters, then this one);
	// the next ones follow at the destination's pace.
	want := now.Add(5 * 500 * time.Millisecond)
	for i := range 3 {
		turn, full := p.overflowTurn("d.example", queue.ID(fmt.Sprint("m", i)), max, 0, now)
		if !full || !turn.Equal(want) {
			t.Fatalf("turn %d: %v (full %v), want %v", i, turn, full, want)
		}
		want = want.Add(500 * time.Millisecond)
	}

	// A slow destination's turns are cut to maxOverflowWait.
	p.observe("d.example", 10*time.Minute)
	p.observe("d.example", 10*time.Minute)
	turn, _ := p.overflowTurn("d.example", "m3", max, 0, now)
	if turn.Sub(now) != maxOverflowWait {
		t.Errorf("slow destination: turn in %v, want %v", turn.Sub(now), maxOverflowWait)
	}

	// A message back from its postponement takes its place in the full
	// line, once.
	if _, full := p.overflowTurn("d.example", "m1", max, 0, now); full {
		t.Error("a message back at its turn was postponed again")
	}
	if _, full := p.overflowTurn("d.example", "m1", max, 0, now); !full {
		t.Error("a message kept its place in the line after using it")
	}

	// Room in the line ends the schedule: the next overflow starts afresh.
	p.mu.Lock()
	st.waiters = 0
	p.mu.Unlock()
	if _, full := p.overflowTurn("d.example", "m5", max, 0, now); full {
		t.Fatal("an empty line is full")
	}
	p.mu.Lock()
	st.waiters, st.avgTransaction = max, 2*time.Second
	p.mu.Unlock()
	if turn, _ := p.overflowTurn("d.example", "m6", max, 0, now); !turn.Equal(now.Add(5 * 500 * time.Millisecond)) {
		t.Errorf("after the line emptied: turn %v, want the first turn again", turn.Sub(now))
	}

	// On probation (2 failures with dead_destination.failures 2) the cap
	// is one connection, and the line one worker.
	p.mu.Lock()
	st.open, st.waiters, st.failures, st.overflowNext = 1, 1, 2, time.Time{}
	p.mu.Unlock()
	if _, full := p.overflowTurn("d.example", "m7", max, 0, now); full {
		t.Error("without dead destinations, a line of one is full")
	}
	turn, full := p.overflowTurn("d.example", "m8", max, 2, now)
	if !full || !turn.Equal(now.Add(2*2*time.Second)) {
		t.Errorf("on probation: turn in %v (full %v), want after the one waiting: %v", turn.Sub(now), full, 4*time.Second)
	}
}

// A backlog for one slow destination does not hold mail for another: the
// workers beyond the slow destination's connections and line postpone
// its mail without an attempt and deliver the other mail meanwhile.
func TestDeliver_BacklogForOneDestinationLetsOthersPass(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	slow := w.mx("slow.example", 10, smtptest.Options{})
	slow.SetDataDelay(400 * time.Millisecond)
	fast := w.mx("fast.example", 10, smtptest.Options{})
	const backlog = 24
	w.cfg.Workers = 8
	w.cfg.Domains = map[string]DomainPolicy{"slow.example": {MaxConnections: 2}}
	ids, rcpts := w.enqueueEach(backlog, "slow.example")
	w.start()
	deadline := time.Now().Add(10 * time.Second)
	for slow.MessageCount() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}

	other := w.enqueue("app@sender.example", "a@fast.example")
	if r := w.waitFinal(other, 1, 20*time.Second)["a@fast.example"]; r.State != queue.Delivered {
		t.Fatalf("the other destination's message: %+v", r)
	}
	// 24 messages at 2 × 400 ms take 4.8 s; the other message went at once.
	if n := slow.MessageCount(); n > backlog/2 {
		t.Errorf("the other destination's message waited for %d of the %d messages of the backlog", n, backlog)
	}
	if fast.MessageCount() != 1 {
		t.Errorf("fast.example got %d messages, want 1", fast.MessageCount())
	}

	w.waitAllFinal(ids, rcpts)
	postponed := 0
	for i, id := range ids {
		for _, r := range w.notes.all(id, rcpts[i]) {
			if r.Postponed {
				postponed++
			}
		}
		m, err := w.q.Get(id)
		if err == nil && m.Recipients[0].Attempts > 1 {
			t.Errorf("%s: %d attempts; a postponement is not one", id, m.Recipients[0].Attempts)
		}
	}
	if postponed == 0 {
		t.Error("no recipient of the backlog was postponed")
	}
	if got := slow.MaxConcurrent(); got > 2 {
		t.Errorf("slow.example saw %d concurrent sessions, cap 2", got)
	}
	if got := slow.MessageCount(); got != backlog {
		t.Errorf("slow.example got %d messages, want %d", got, backlog)
	}
}
