package delivery

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/internal/testwait"
	"github.com/mxout/mxout/queue"
)

// A slot ends once, whichever of Keep, Close and Release comes first; a
// deferred Release after any of them changes nothing, and Release alone
// gives the slot back and aborts a session still attached.
func TestSlot_EndsOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newPool(time.Hour, time.Second)
	acquire := func() *slot {
		t.Helper()
		sl, err := p.acquire(ctx, "a.example", 2, 0)
		if err != nil {
			t.Fatal(err)
		}
		return sl
	}

	kept := acquire()
	kept.Attach(fakeSession("192.0.2.1:25"))
	kept.Keep()
	kept.Release()
	kept.Keep()
	if open, idle := p.stats("a.example"); open != 1 || idle != 1 {
		t.Fatalf("after Keep and Release: open %d idle %d, want the session idle with its slot", open, idle)
	}

	taken := acquire() // the idle session
	closed := false
	taken.session().onClose = func() { closed = true }
	taken.Release()
	taken.Release()
	if open, idle := p.stats("a.example"); open != 0 || idle != 0 || !closed {
		t.Fatalf("after Release twice: open %d idle %d, session closed %v; want nothing held and the session aborted", open, idle, closed)
	}

	empty := acquire()
	empty.Keep() // nothing attached: the slot is given back
	empty.Close(time.Second)
	if open, _ := p.stats("a.example"); open != 0 {
		t.Errorf("Keep without a session kept %d slots", open)
	}

	dropped := acquire()
	dropped.Attach(fakeSession("192.0.2.2:25"))
	dropped.drop() // the session died; the slot stays for another
	if open, _ := p.stats("a.example"); open != 1 || dropped.session() != nil {
		t.Errorf("after drop: open %d, session %v; want the slot held without a session", open, dropped.session())
	}
	dropped.Release()
	if open, _ := p.stats("a.example"); open != 0 {
		t.Errorf("after drop and Release: open %d", open)
	}
}

// acquire refuses a dead destination with the outcome that defers its
// mail, also when it dies while acquire waits for a slot.
func TestPool_AcquireRefusesDeadDestinations(t *testing.T) {
	t.Parallel()
	p := newPool(time.Hour, time.Second)
	fail := Outcome{State: queue.Pending, Status: "4.4.1", Response: "connection refused"}
	held, err := p.acquire(context.Background(), "a.example", 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		sl, err := p.acquire(context.Background(), "a.example", 1, 2)
		if err == nil {
			sl.Release()
		}
		got <- err
	}()
	testwait.For(t, 10*time.Second, "acquire to wait for the slot", func() bool { return p.waiting("a.example") > 0 })
	// The round holding the slot fails the destination to death, then
	// gives the slot back.
	p.report("a.example", true, fail, time.Now(), 2, time.Hour)
	p.report("a.example", true, fail, time.Now(), 2, time.Hour)
	held.Release()
	var dead *suspendedError
	if err := <-got; !errors.As(err, &dead) || dead.o.Status != "4.4.1" || dead.o.Response != "delivery temporarily suspended: connection refused" {
		t.Errorf("acquire while the destination died = %v, want its suspension", err)
	}
	if _, err := p.acquire(context.Background(), "a.example", 1, 2); !errors.As(err, &dead) {
		t.Errorf("acquire of a dead destination = %v, want its suspension", err)
	}
	if open, _ := p.stats("a.example"); open != 0 {
		t.Errorf("refused acquires hold %d slots", open)
	}
}

// waiting reports, for tests, how many goroutines wait for dest's slots.
func (p *pool) waiting(dest string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if st := p.dests[dest]; st != nil {
		return st.waiters
	}
	return 0
}

// Credentials never go over plaintext: not when the plaintext retry after
// a failed opportunistic handshake is asked to carry them (no route does
// today, but nothing but the opener stops it), nor when a session
// without TLS is opened with them.
func TestOpen_NoCredentialsWithoutTLS(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	mx := w.mx("auth.example", 10, smtptest.Options{BrokenTLS: true, AuthUser: "relay", AuthPassword: "secret"})
	w.start()
	a := &attempt{m: &queue.Message{ID: "33lkftj44n5k1q080720"}, r: w.e.routeFor("auth.example")}
	a.r.cred = &credentials{user: "relay", password: "secret"}
	to := target{host: "mx.auth.example", addr: netip.AddrPortFrom(netip.MustParseAddr(mx.Host()), uint16(mx.Port()))}
	for _, tls := range []tlsPolicy{{mode: tlsMay}, {mode: tlsOff}} {
		to.tls = tls
		s, err := w.e.open(context.Background(), a, to)
		if err == nil {
			s.abort()
		}
		if o := Classify(err, to.host); o.State != queue.Pending || o.Status != "4.7.10" {
			t.Errorf("TLS mode %d: open = %v (%+v), want a 4.7.10 deferral", tls.mode, err, o)
		}
	}
	if n := mx.AuthAttempts(); n != 0 {
		t.Errorf("%d AUTH commands sent in plaintext", n)
	}
	if n := mx.Connections(); n != 3 {
		t.Errorf("%d connections, want 3 (the handshake, its plaintext retry, the plaintext session)", n)
	}
}
