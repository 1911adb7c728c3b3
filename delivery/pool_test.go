package delivery

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/internal/testwait"
	"github.com/mxout/mxout/queue"
	"github.com/mxout/mxout/resolver/dnstest"
)

// fakeSession is a session without a connection, for pool bookkeeping.
func fakeSession(addr string) *session {
	return &session{addr: addr, key: connKey{addr: addr, tls: tlsPolicy{mode: tlsMay}}}
}

func TestPool_CapCountsIdleSessions(t *testing.T) {
	t.Parallel()
	p := newPool(time.Hour, time.Second)
	ctx := context.Background()
	for range 2 {
		if sl, err := p.acquire(ctx, "a.example", 2, 0); err != nil || sl.session() != nil {
			t.Fatalf("acquire = %v, %v; want a slot", sl, err)
		}
	}
	// Both slots are taken; an idle session returned keeps its slot.
	s1 := fakeSession("192.0.2.1:25")
	p.put(s1, "a.example")
	if open, idle := p.stats("a.example"); open != 2 || idle != 1 {
		t.Fatalf("open %d idle %d, want 2 and 1", open, idle)
	}
	// The next acquire gets the idle session, not a third slot.
	if sl, err := p.acquire(ctx, "a.example", 2, 0); err != nil || sl.session() != s1 {
		t.Fatalf("acquire = %v, %v; want the idle session", sl, err)
	}
	// With both slots busy, acquire waits until one is released.
	got := make(chan error, 1)
	go func() {
		_, err := p.acquire(ctx, "a.example", 2, 0)
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("acquire beyond the cap returned %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	p.release("a.example")
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	// A waiter gives up with its context.
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := p.acquire(cctx, "a.example", 2, 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("acquire with an ended context = %v", err)
	}
}

func TestPool_TakeMovesTheSlot(t *testing.T) {
	t.Parallel()
	p := newPool(time.Hour, time.Second)
	ctx := context.Background()
	p.acquire(ctx, "a.example", 1, 0)
	s := fakeSession("192.0.2.1:25")
	p.put(s, "a.example")
	// b.example shares the MX: it takes a's idle session with its own slot.
	p.acquire(ctx, "b.example", 1, 0)
	if got := p.take(s.key, "b.example"); got != s {
		t.Fatalf("take = %v", got)
	}
	if open, _ := p.stats("a.example"); open != 0 {
		t.Errorf("a.example still holds %d slots after its session moved", open)
	}
	if open, _ := p.stats("b.example"); open != 1 {
		t.Errorf("b.example holds %d slots, want 1", open)
	}
	if p.take(s.key, "b.example") != nil {
		t.Error("a taken session is still idle")
	}
}

func TestPool_ExpiryAndClose(t *testing.T) {
	t.Parallel()
	p := newPool(20*time.Millisecond, time.Second)
	p.acquire(context.Background(), "a.example", 1, 0)
	p.put(fakeSession("192.0.2.1:25"), "a.example")
	testwait.Until(2*time.Second, func() bool {
		open, idle := p.stats("a.example")
		return open == 0 && idle == 0
	})
	if open, idle := p.stats("a.example"); open != 0 || idle != 0 {
		t.Errorf("after the idle timeout: open %d idle %d", open, idle)
	}

	p = newPool(time.Hour, time.Second)
	p.acquire(context.Background(), "a.example", 1, 0)
	p.put(fakeSession("192.0.2.1:25"), "a.example")
	p.close()
	if open, idle := p.stats("a.example"); open != 0 || idle != 0 {
		t.Errorf("after close: open %d idle %d", open, idle)
	}
	if _, err := p.acquire(context.Background(), "a.example", 1, 0); !errors.Is(err, errPoolClosed) {
		t.Errorf("acquire after close = %v", err)
	}
}

func TestPool_DeadDestination(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	fail := Outcome{State: queue.Pending, Status: "4.4.1", Response: "connection refused", RemoteMTA: "mx.a.example"}
	tests := []struct {
		name     string
		reports  []bool // failed?
		at       time.Duration
		wantDead bool
	}{
		{name: "below the limit", reports: []bool{true, true}, wantDead: false},
		{name: "at the limit", reports: []bool{true, true, true}, wantDead: true},
		{name: "a success resets the count", reports: []bool{true, true, false, true, true}, wantDead: false},
		{name: "hold over", reports: []bool{true, true, true}, at: time.Minute, wantDead: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newPool(time.Hour, time.Second)
			for _, failed := range tt.reports {
				p.report("a.example", failed, fail, now, 3, time.Minute)
			}
			o, dead := p.suspended("a.example", now.Add(tt.at))
			if dead != tt.wantDead {
				t.Fatalf("dead = %v, want %v", dead, tt.wantDead)
			}
			if dead && (o.State != queue.Pending || o.Status != "4.4.1" || o.Response != "delivery temporarily suspended: connection refused") {
				t.Errorf("suspended outcome = %+v", o)
			}
		})
	}
	// Failures of rounds in flight when it died do not declare it dead
	// again (one log line); a failure on probation, after the hold, does.
	dying := newPool(time.Hour, time.Second)
	var declared []bool
	for range 5 {
		declared = append(declared, dying.report("a.example", true, fail, now, 3, time.Minute))
	}
	declared = append(declared, dying.report("a.example", true, fail, now.Add(2*time.Minute), 3, time.Minute))
	if want := []bool{false, false, true, false, false, true}; !slices.Equal(declared, want) {
		t.Errorf("declared dead by each report: %v, want %v", declared, want)
	}

	// On probation (hold over, not yet a success) one connection at a time.
	p := newPool(time.Hour, time.Second)
	for range 3 {
		p.report("a.example", true, fail, now, 3, time.Minute)
	}
	p.acquire(context.Background(), "a.example", 10, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := p.acquire(ctx, "a.example", 10, 3); err == nil {
		t.Error("a second connection to a destination on probation")
	}
	p.report("a.example", false, Outcome{}, now, 3, time.Minute)
	if _, err := p.acquire(context.Background(), "a.example", 10, 3); err != nil {
		t.Errorf("after a success: %v", err)
	}
}

func TestRateLimiter_TurnsAndTickets(t *testing.T) {
	t.Parallel()
	l := newRateLimiter()
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	every := 10 * time.Second
	for i, want := range []time.Duration{0, 10 * time.Second, 20 * time.Second} {
		if got := l.reserve(queue.ID(fmt.Sprint(i)), "a.example", every, now); !got.Equal(now.Add(want)) {
			t.Errorf("turn %d at %v, want +%v", i, got.Sub(now), want)
		}
	}
	// Message 3 is postponed to its turn and keeps it when it comes back,
	// though message 4 took the next turn meanwhile.
	t3 := l.reserve("3", "a.example", every, now)
	l.hold("3", "a.example", t3, now)
	if t4 := l.reserve("4", "a.example", every, now); !t4.Equal(t3.Add(every)) {
		t.Errorf("turn 4 at %v, want after turn 3", t4.Sub(now))
	}
	if got := l.reserve("3", "a.example", every, t3); !got.Equal(t3) {
		t.Errorf("returning message got %v, want its ticket %v", got.Sub(now), t3.Sub(now))
	}
	// Another destination has its own schedule; an idle one starts at now.
	if got := l.reserve("5", "b.example", every, now); !got.Equal(now) {
		t.Errorf("b.example's first turn at %v", got.Sub(now))
	}
	if later := now.Add(time.Hour); !l.reserve("6", "a.example", every, later).Equal(later) {
		t.Error("an idle destination's turn is not now")
	}
}

func TestDeliver_SharedMXReusedAcrossDomains(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	mx := w.mx("one.example", 10, smtptest.Options{})
	host := "mx-" + strings.ReplaceAll(mx.Host(), ".", "-") + ".one.example" // as w.mx names it
	w.dns.Set("two.example", dnstest.Record{Type: "MX", Value: "10 " + host + "."})
	w.cfg.ConnectionIdleTimeout = 10 * time.Second
	w.start()
	a := w.enqueue("app@sender.example", "u@one.example")
	w.waitFinal(a, 1, 10*time.Second)
	b := w.enqueue("app@sender.example", "u@two.example")
	w.waitFinal(b, 1, 10*time.Second)
	if got := mx.Connections(); got != 1 {
		t.Errorf("two domains with one MX host took %d connections, want 1", got)
	}
	if open, _ := w.e.pool.stats("one.example"); open != 0 {
		t.Errorf("one.example still holds %d slots after its session moved", open)
	}
}

// A destination that failed once is forgotten some time after its last
// failure, once it holds nothing: the map is keyed by recipient domains.
func TestPool_FailedDestinationsExpire(t *testing.T) {
	t.Parallel()
	p := newPool(time.Hour, time.Second)
	const hold = time.Minute
	t0 := time.Now()
	fail := Outcome{State: queue.Pending, Status: "4.4.1", Response: "connection refused"}
	p.report("once.example", true, fail, t0, 5, hold)
	if len(p.dests) != 1 {
		t.Fatalf("%d destinations remembered after one failure, want 1", len(p.dests))
	}
	p.report("later.example", true, fail, t0.Add(forgetAfter*hold), 5, hold)
	if _, ok := p.dests["once.example"]; ok {
		t.Errorf("once.example is still remembered %v after its only failure", forgetAfter*hold)
	}
	if _, ok := p.dests["later.example"]; !ok {
		t.Error("the destination that just failed was forgotten")
	}
}

// A flood of mail to ever new failing domains keeps the map bounded.
func TestPool_FailingDestinationsBounded(t *testing.T) {
	t.Parallel()
	p := newPool(time.Hour, time.Second)
	now := time.Now()
	fail := Outcome{State: queue.Pending, Status: "4.4.1", Response: "connection refused"}
	for i := range 3 * maxFailing {
		p.report(fmt.Sprintf("d%d.example", i), true, fail, now, 5, time.Hour)
	}
	if n := len(p.dests); n > maxFailing {
		t.Errorf("%d failing destinations remembered, want at most %d", n, maxFailing)
	}
	// A destination holding a connection is never forgotten.
	if _, err := p.acquire(context.Background(), "busy.example", 1, 5); err != nil {
		t.Fatal(err)
	}
	p.report("busy.example", true, fail, now, 5, time.Hour)
	for i := range 2 * maxFailing {
		p.report(fmt.Sprintf("e%d.example", i), true, fail, now, 5, time.Hour)
	}
	if st := p.dests["busy.example"]; st == nil || st.failures != 1 {
		t.Errorf("busy.example = %+v, want it kept with its failure", st)
	}
}

// Idle sessions of all destinations together are capped.
func TestPool_IdleSessionsCapped(t *testing.T) {
	t.Parallel()
	p := newPool(time.Hour, time.Second)
	p.maxIdle = 2
	ctx := context.Background()
	for i := range 3 {
		dest := fmt.Sprintf("d%d.example", i)
		if _, err := p.acquire(ctx, dest, 1, 0); err != nil {
			t.Fatal(err)
		}
		p.put(fakeSession(fmt.Sprintf("192.0.2.%d:25", i+1)), dest)
	}
	if p.nidle != 2 {
		t.Errorf("%d idle sessions, want the cap of 2", p.nidle)
	}
	if open, idle := p.stats("d2.example"); open != 0 || idle != 0 {
		t.Errorf("the session over the cap: open %d idle %d, want it closed and its slot given back", open, idle)
	}
	sl, err := p.acquire(ctx, "d0.example", 1, 0)
	if err != nil || sl.session() == nil || p.nidle != 1 {
		t.Errorf("acquire = %v, %v with %d idle; want d0's idle session and one left", sl, err, p.nidle)
	}
}
