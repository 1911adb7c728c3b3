package delivery

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/internal/testwait"
	"github.com/mxout/mxout/queue"
)

// enqueueEach queues n one-recipient messages to domain and returns
// their IDs and recipients.
func (w *world) enqueueEach(n int, domain string) ([]queue.ID, []string) {
	w.t.Helper()
	var ids []queue.ID
	var rcpts []string
	for i := range n {
		rcpt := fmt.Sprintf("u%d@%s", i, domain)
		ids = append(ids, w.enqueue("app@sender.example", rcpt))
		rcpts = append(rcpts, rcpt)
	}
	return ids, rcpts
}

// waitAllFinal waits until every message has its one recipient final.
func (w *world) waitAllFinal(ids []queue.ID, rcpts []string) {
	w.t.Helper()
	for i, id := range ids {
		if r := w.waitFinal(id, 1, 20*time.Second)[rcpts[i]]; r.State != queue.Delivered {
			w.t.Errorf("%s: %+v", rcpts[i], r)
		}
	}
}

func TestDeliver_ConnectionCapNeverExceeded(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		global    int
		perDomain int
		want      int
	}{
		{name: "max_connections_per_domain", global: 3, want: 3},
		{name: "domains.<name>.max_connections", global: 10, perDomain: 2, want: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			mx := w.mx("capped.example", 10, smtptest.Options{})
			mx.SetDataDelay(20 * time.Millisecond) // let sessions overlap
			w.cfg.Workers = 16
			w.cfg.MaxConnectionsPerDomain = tt.global
			if tt.perDomain > 0 {
				w.cfg.Domains = map[string]configs.DomainPolicy{"capped.example": {MaxConnections: tt.perDomain}}
			}
			w.start()
			ids, rcpts := w.enqueueEach(40, "capped.example")
			w.waitAllFinal(ids, rcpts)
			if got := mx.MaxConcurrent(); got > tt.want || got < 2 {
				t.Errorf("peak concurrent connections = %d, want 2..%d", got, tt.want)
			}
		})
	}
}

func TestDeliver_ConnectionReuse(t *testing.T) {
	t.Parallel()
	const n = 12
	tests := []struct {
		name        string
		maxMessages int
		idle        time.Duration
		wantAtMost  int
		wantAtLeast int
	}{
		// Two connections (the cap) carry all twelve messages.
		{name: "reused", maxMessages: 100, idle: 5 * time.Second, wantAtLeast: 1, wantAtMost: 2},
		// Each connection carries at most three: at least four of them.
		{name: "max_messages_per_connection", maxMessages: 3, idle: 5 * time.Second, wantAtLeast: n / 3, wantAtMost: n - 1},
		{name: "reuse off", maxMessages: 100, idle: 0, wantAtLeast: n, wantAtMost: n},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			mx := w.mx("reuse.example", 10, smtptest.Options{TLS: true})
			w.cfg.MaxConnectionsPerDomain = 2
			w.cfg.MaxMessagesPerConnection = tt.maxMessages
			w.cfg.ConnectionIdleTimeout = tt.idle
			w.start()
			ids, rcpts := w.enqueueEach(n, "reuse.example")
			w.waitAllFinal(ids, rcpts)
			if got := mx.Connections(); got < tt.wantAtLeast || got > tt.wantAtMost {
				t.Errorf("%d messages took %d connections, want %d..%d", n, got, tt.wantAtLeast, tt.wantAtMost)
			}
			for _, m := range mx.Messages() {
				if !m.TLS {
					t.Errorf("message to %v not over TLS on a reused session", m.To)
				}
			}
		})
	}
}

func TestDeliver_DeadCachedSessionRetriedWithoutAttempt(t *testing.T) {
	t.Parallel()
	eachWire(t, func(t *testing.T, w *world) {
		mx := w.mx("restart.example", 10, smtptest.Options{})
		w.cfg.ConnectionIdleTimeout = 10 * time.Second
		w.start()
		first := w.enqueue("app@sender.example", "a@restart.example")
		w.waitFinal(first, 1, 10*time.Second)
		if open, idle := w.e.pool.stats("restart.example"); open != 1 || idle != 1 {
			t.Fatalf("after one delivery: %d open, %d idle; want the session cached", open, idle)
		}
		mx.Down() // drops the cached connection, as a restarting MX would
		mx.Up()
		second := w.enqueue("app@sender.example", "b@restart.example")
		if r := w.waitFinal(second, 1, 10*time.Second)["b@restart.example"]; r.State != queue.Delivered {
			t.Fatalf("second message: %+v", r)
		}
		if all := w.notes.all(second, "b@restart.example"); len(all) != 1 {
			t.Errorf("the dead cached session cost an attempt: %+v", all)
		}
		if got := mx.Connections(); got != 2 {
			t.Errorf("connections = %d, want 2 (the cached one, then a fresh one)", got)
		}
	})
}

func TestDeliver_IdleSessionsClosedAfterTimeout(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	mx := w.mx("idle.example", 10, smtptest.Options{})
	w.cfg.ConnectionIdleTimeout = 100 * time.Millisecond
	w.start()
	id := w.enqueue("app@sender.example", "a@idle.example")
	w.waitFinal(id, 1, 10*time.Second)
	// The pool gives the slot back once the session's QUIT is done, just
	// after the server has seen the connection close: wait for both.
	slots := func() int {
		open, idle := w.e.pool.stats("idle.example")
		return open + idle
	}
	testwait.Until(5*time.Second, func() bool { return mx.Active() == 0 && slots() == 0 })
	if mx.Active() != 0 {
		t.Errorf("idle session still open after the idle timeout")
	}
	if open, idle := w.e.pool.stats("idle.example"); open != 0 || idle != 0 {
		t.Errorf("pool still holds %d slots, %d idle", open, idle)
	}
}

func TestDeliver_DeadDestinationBackedOffAsAWhole(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	mx := w.mx("down.example", 10, smtptest.Options{})
	mx.SetGreeting(&smtptest.Reply{Code: 421, Message: "too busy"})
	var offset atomic.Int64
	w.cfg.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	w.cfg.DeadAfter, w.cfg.DeadHold = 2, 10*time.Minute
	w.cfg.MaxConnectionsPerDomain = 1
	w.cfg.Retry.MaxLifetime = 24 * time.Hour
	w.start()
	ids, rcpts := w.enqueueEach(6, "down.example")

	// Every message is retried at least twice, but only the first two
	// attempts connect: then the destination is dead.
	retried := func() bool {
		for i, id := range ids {
			if len(w.notes.all(id, rcpts[i])) < 2 {
				return false
			}
		}
		return true
	}
	if !testwait.Until(10*time.Second, retried) {
		t.Fatal("messages to a dead destination were not retried")
	}
	if got := mx.Connections(); got != 2 {
		t.Errorf("connections to a dead destination = %d, want 2 (dead_destination.failures)", got)
	}
	suspended := 0
	for i, id := range ids {
		for _, r := range w.notes.all(id, rcpts[i]) {
			if r.State != queue.Pending || r.Status[0] != '4' {
				t.Errorf("%s: %+v", rcpts[i], r)
			}
			if strings.HasPrefix(r.Response, "delivery temporarily suspended: ") && strings.Contains(r.Response, "421") {
				suspended++
			}
		}
	}
	if suspended == 0 {
		t.Error(`no "delivery temporarily suspended" deferral with the 421 that killed the destination`)
	}
	if n := w.e.DeadDestinations(); n != 1 {
		t.Errorf("DeadDestinations = %d while down.example is held off, want 1", n)
	}

	// After the hold the destination is probed, and recovers.
	mx.SetGreeting(nil)
	offset.Store(int64(11 * time.Minute))
	if n := w.e.DeadDestinations(); n != 0 {
		t.Errorf("DeadDestinations = %d after the hold, want 0", n)
	}
	w.waitAllFinal(ids, rcpts)
}

func TestDeliver_DomainRateSpacesTransactions(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	mx := w.mx("slowly.example", 10, smtptest.Options{})
	const n, every = 6, 50 * time.Millisecond
	w.cfg.Domains = map[string]configs.DomainPolicy{"slowly.example": {Rate: configs.Rate{Count: 20, Per: time.Second}}}
	// All due before the engine starts, so that without the rate they
	// would leave together, however slowly the queue takes them.
	ids, rcpts := w.enqueueEach(n, "slowly.example")
	before := time.Now()
	w.start()
	w.waitAllFinal(ids, rcpts)
	var at []time.Time
	for _, m := range mx.Messages() {
		at = append(at, m.Received)
	}
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	// The first turn is no earlier than the start, each next one a turn
	// later, and a message arrives after its turn: the k-th arrival is
	// k turns after the start at the least, however slow the machine. (Gaps
	// between arrivals prove nothing on a loaded machine: the first
	// transaction, which also connects, can take longer than a turn.)
	for k, a := range at {
		if got, want := a.Sub(before), time.Duration(k)*every; got < want {
			t.Errorf("arrival %d of %d at 20/s came %v after the start, want %v at the least", k+1, len(at), got, want)
		}
	}
}

func TestDeliver_RatePostponesWithoutAnAttempt(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	mx := w.mx("hourly.example", 10, smtptest.Options{})
	w.cfg.Domains = map[string]configs.DomainPolicy{"hourly.example": {Rate: configs.Rate{Count: 1, Per: time.Minute}}}
	w.start()
	first := w.enqueue("app@sender.example", "a@hourly.example")
	w.waitFinal(first, 1, 10*time.Second)
	second := w.enqueue("app@sender.example", "b@hourly.example")
	// The notifier hears of the round before the queue records it.
	testwait.Until(10*time.Second, func() bool { return len(w.notes.all(second, "b@hourly.example")) > 0 && !w.q.Leased(second) })
	all := w.notes.all(second, "b@hourly.example")
	if len(all) != 1 || !all[0].Postponed || all[0].State != queue.Pending {
		t.Fatalf("second message within the minute: %+v", all)
	}
	m, err := w.q.Get(second)
	if err != nil {
		t.Fatal(err)
	}
	rc := m.Recipients[0]
	if rc.Attempts != 0 || time.Until(rc.NextAttempt) < 50*time.Second || time.Until(rc.NextAttempt) > time.Minute {
		t.Errorf("postponed recipient: attempts %d, next attempt in %v; want 0 and its turn about a minute after the first",
			rc.Attempts, time.Until(rc.NextAttempt))
	}
	if got := mx.MessageCount(); got != 1 {
		t.Errorf("%d messages arrived within the minute, want 1", got)
	}
}

func TestDeliver_RecipientsPerTransaction(t *testing.T) {
	t.Parallel()
	eachWire(t, func(t *testing.T, w *world) {
		mx := w.mx("many.example", 10, smtptest.Options{})
		w.cfg.MaxRecipientsPerTransaction = 2
		w.start()
		rcpts := []string{"a@many.example", "b@many.example", "c@many.example", "d@many.example", "e@many.example"}
		id := w.enqueue("app@sender.example", rcpts...)
		w.waitFinal(id, len(rcpts), 10*time.Second)
		var sizes []int
		for _, m := range mx.Messages() {
			sizes = append(sizes, len(m.To))
		}
		slices.Sort(sizes)
		if !slices.Equal(sizes, []int{1, 2, 2}) {
			t.Errorf("transactions carried %v recipients, want 2, 2 and 1", sizes)
		}
	})
}

func TestDeliver_EqualPreferenceSpread(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	a := w.mx("spread.example", 10, smtptest.Options{})
	b := w.mx("spread.example", 10, smtptest.Options{})
	w.cfg.ConnectionIdleTimeout = 0 // every message walks the MX list anew
	w.start()
	ids, rcpts := w.enqueueEach(24, "spread.example")
	w.waitAllFinal(ids, rcpts)
	if a.MessageCount() == 0 || b.MessageCount() == 0 {
		t.Errorf("equal-preference MX hosts got %d and %d messages; want both used", a.MessageCount(), b.MessageCount())
	}
}

func TestDeliver_FinalDotTimeout(t *testing.T) {
	t.Parallel()
	eachWire(t, func(t *testing.T, w *world) {
		mx := w.mx("sluggish.example", 10, smtptest.Options{})
		mx.SetDataDelay(30 * time.Second)
		w.cfg.Timeouts.DataDone = 200 * time.Millisecond // the other timeouts are 5s
		w.start()
		start := time.Now()
		id := w.enqueue("app@sender.example", "u@sluggish.example")
		r := w.firstResult(id, "u@sluggish.example")
		if r.State != queue.Pending || r.Status != "4.4.2" {
			t.Errorf("result = %+v, want a 4.4.2 timeout deferral", r)
		}
		if took := r.Attempted.Sub(start); took > 4*time.Second {
			t.Errorf("the attempt took %v: not ended by the 200ms final-dot timeout", took)
		}
	})
}

// TestDeliver_ReviveDestinationsEndsTheHold: an operator's flush revives a
// dead destination at once, without waiting out dead_destination.hold.
func TestDeliver_ReviveDestinationsEndsTheHold(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	mx := w.mx("revive.example", 10, smtptest.Options{})
	mx.SetGreeting(&smtptest.Reply{Code: 421, Message: "too busy"})
	w.cfg.DeadAfter, w.cfg.DeadHold = 2, time.Hour
	w.cfg.Retry.MaxLifetime = 24 * time.Hour
	w.start()
	ids, rcpts := w.enqueueEach(3, "revive.example")
	suspended := func() bool {
		for i, id := range ids {
			for _, r := range w.notes.all(id, rcpts[i]) {
				if strings.HasPrefix(r.Response, "delivery temporarily suspended: ") {
					return true
				}
			}
		}
		return false
	}
	testwait.Until(10*time.Second, suspended)
	if n := w.e.ReviveDestinations(); n != 1 {
		t.Errorf("ReviveDestinations = %d, want 1 dead destination", n)
	}
	if n := w.e.ReviveDestinations(); n != 0 {
		t.Errorf("second ReviveDestinations = %d, want 0", n)
	}
	mx.SetGreeting(nil)
	if _, err := w.q.Flush(); err != nil {
		t.Fatal(err)
	}
	w.waitAllFinal(ids, rcpts) // well before the hour-long hold
}
