package e2e

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxout/mxout/admin"
	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/internal/testwait"
)

// submissions records what each client learnt about each marker.
type submissions struct {
	mu       sync.Mutex
	outcomes map[string]outcome
}

func (s *submissions) set(marker string, o outcome) {
	s.mu.Lock()
	s.outcomes[marker] = o
	s.mu.Unlock()
}

func (s *submissions) with(o outcome) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for m, got := range s.outcomes {
		if got == o {
			out = append(out, m)
		}
	}
	sort.Strings(out)
	return out
}

// arrivals counts how often each marker reached the destination.
func arrivals(mx *smtptest.Server) map[string]int {
	n := map[string]int{}
	for _, m := range mx.Messages() {
		for _, line := range strings.Split(string(m.Data), "\r\n") {
			if marker, ok := strings.CutPrefix(line, "marker "); ok {
				n[marker]++
			}
		}
	}
	return n
}

// TestServe_RepeatedSIGKILLMidDelivery is the crash test of the queue
// guarantees. Several clients submit without pause while the destination
// holds every delivery in DATA for a while; the relay is SIGKILLed several
// times, each time with deliveries and submissions in flight, and restarted.
// Afterwards:
//   - every message that got a 250 arrived at least once (duplicates are
//     allowed: a delivery cut off after the destination took the message
//     is repeated; they are counted);
//   - nothing arrived that the relay refused or never got whole: the only
//     messages without a 250 that may arrive are those whose final dot was
//     sent when the relay died (the client cannot know; SMTP says retry);
//   - nothing is half-queued: after the drain the queue is empty, and its
//     files hold no record, body or index entry.
func TestServe_RepeatedSIGKILLMidDelivery(t *testing.T) {
	t.Parallel()
	repeatedKills(t, "crash.example")
}

// TestServe_RepeatedSIGKILLMidDeliveryToSeveralDomains is the same crash
// test with every message to three domains, whose transactions a round
// makes one after another: each destination's results are written as
// its transaction ends, so a kill repeats only the transactions in
// flight, at most one per worker.
func TestServe_RepeatedSIGKILLMidDeliveryToSeveralDomains(t *testing.T) {
	t.Parallel()
	repeatedKills(t, "crash-a.example", "crash-b.example", "crash-c.example")
}

// repeatedKills runs the repeated-SIGKILL test with every message sent to
// one recipient at each of domains.
func repeatedKills(t *testing.T, domains ...string) {
	const kills, workers = 4, 16
	e := newEnv(t)
	var mxs []*smtptest.Server
	for _, d := range domains {
		mx := e.mx(d, 10, smtptest.Options{})
		mx.SetDataDelay(150 * time.Millisecond)
		mxs = append(mxs, mx)
	}
	inData := func() bool {
		for _, mx := range mxs {
			if mx.Active() > 0 {
				return true
			}
		}
		return false
	}
	adminAddr, over := adminOverrides(t)
	over["delivery"] = map[string]any{"workers": workers}
	r := e.newRelay(over).start()

	subs := &submissions{outcomes: map[string]outcome{}}
	stop := clients(5, func(c, i int) {
		marker := fmt.Sprintf("kill-%d-%d", c, i)
		var to []string
		for _, d := range domains {
			to = append(to, fmt.Sprintf("u%d@%s", c, d))
		}
		o, _ := r.submit("app@sender.example", to, message(marker))
		subs.set(marker, o)
		// A steady stream, not a flood: the drain afterwards stays short.
		time.Sleep(25 * time.Millisecond)
	})

	for k := 0; k < kills; k++ {
		before := len(subs.with(accepted))
		testwait.For(t, 20*time.Second, "new messages accepted and deliveries in DATA", func() bool {
			return len(subs.with(accepted)) >= before+30 && inData()
		})
		r.kill()
		r.start()
	}
	stop()

	ok := subs.with(accepted)
	testwait.For(t, 90*time.Second, fmt.Sprintf("the %d accepted messages to arrive at %d domain(s)", len(ok), len(domains)), func() bool {
		for _, mx := range mxs {
			if len(missing(mx, ok)) > 0 {
				return false
			}
		}
		return true
	})
	waitEmpty(t, admin.NewClient(adminAddr, ""), 60*time.Second)
	if err := r.stop(); err != nil {
		t.Errorf("clean stop after the kills: %v", err)
	}

	doubt := map[string]bool{}
	for _, m := range subs.with(inDoubt) {
		doubt[m] = true
	}
	isAccepted := map[string]bool{}
	for _, m := range ok {
		isAccepted[m] = true
	}
	// A duplicate is a transaction (a marker at one domain) repeated.
	dups, doubtArrived := 0, 0
	for i, mx := range mxs {
		for marker, n := range arrivals(mx) {
			switch {
			case isAccepted[marker]:
			case doubt[marker]:
				if i == 0 {
					doubtArrived++
				}
			default:
				t.Errorf("%s arrived %d times at %s but the relay never accepted it (no 250, no final dot in flight)", marker, n, domains[i])
			}
			dups += n - 1
		}
	}
	c := verifyQueue(t, r.dataDir())
	if c.Messages+c.Bodies+c.Due+c.Held != 0 {
		t.Errorf("after the drain the queue still holds %+v", c)
	}
	// Every transaction in flight at a kill may be repeated, and no other:
	// the workers bound them.
	if dups > kills*workers {
		t.Errorf("%d transactions repeated after %d kills; at most %d can have been in flight", dups, kills, kills*workers)
	}
	t.Logf("%d kills, %d domain(s) per message: %d accepted (all arrived), %d refused, %d never sent whole, %d in doubt (%d of them arrived); %d duplicate arrivals",
		kills, len(domains), len(ok), len(subs.with(refused)), len(subs.with(notSent)), len(doubt), doubtArrived, dups)
}

// TestServe_SIGKILLMidRoundRepeatsOnlyTheTransactionInFlight: a message
// to three domains is delivered to the first two, and the relay is killed
// while the third holds the message in DATA. After the restart only the
// third transaction is repeated: the first two destinations' results were
// written as their transactions ended.
func TestServe_SIGKILLMidRoundRepeatsOnlyTheTransactionInFlight(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.mx("first.example", 10, smtptest.Options{})
	b := e.mx("second.example", 10, smtptest.Options{})
	c := e.mx("third.example", 10, smtptest.Options{})
	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	c.OnMessage(func(smtptest.Message) {
		once.Do(func() {
			close(held)
			<-release
		})
	})
	var releaseOnce sync.Once
	free := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(free) // before c's Close, which waits for its handler
	adminAddr, over := adminOverrides(t)
	r := e.newRelay(over).start()
	if _, err := r.send("app@sender.example", []string{"x@first.example", "y@second.example", "z@third.example"}, message("mid-round")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-held:
	case <-time.After(20 * time.Second):
		t.Fatal("the third destination's transaction never reached DATA")
	}
	r.kill()
	free() // the killed transaction's message arrives: it was in flight
	r.start()
	testwait.For(t, 30*time.Second, "the third destination's retry", func() bool { return c.MessageCount() >= 2 })
	waitEmpty(t, admin.NewClient(adminAddr, ""), 30*time.Second)
	if err := r.stop(); err != nil {
		t.Errorf("clean stop: %v", err)
	}
	for name, mx := range map[string]*smtptest.Server{"first": a, "second": b} {
		if n := arrivals(mx)["mid-round"]; n != 1 {
			t.Errorf("the %s destination, done before the kill, got the message %d times; want 1", name, n)
		}
	}
	t.Logf("arrivals after a kill in the third destination's DATA: first %d, second %d, third %d",
		arrivals(a)["mid-round"], arrivals(b)["mid-round"], arrivals(c)["mid-round"])
}
