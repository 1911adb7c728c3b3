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
	const kills = 4
	e := newEnv(t)
	mx := e.mx("crash.example", 10, smtptest.Options{})
	mx.SetDataDelay(150 * time.Millisecond)
	adminAddr, over := adminOverrides(t)
	over["delivery"] = map[string]any{"workers": 16}
	r := e.newRelay(over).start()

	subs := &submissions{outcomes: map[string]outcome{}}
	stop := clients(5, func(c, i int) {
		marker := fmt.Sprintf("kill-%d-%d", c, i)
		o, _ := r.submit("app@sender.example", []string{fmt.Sprintf("u%d@crash.example", c)}, message(marker))
		subs.set(marker, o)
		// A steady stream, not a flood: the drain afterwards stays short.
		time.Sleep(25 * time.Millisecond)
	})

	for k := 0; k < kills; k++ {
		before := len(subs.with(accepted))
		testwait.For(t, 20*time.Second, "new messages accepted and deliveries in DATA", func() bool {
			return len(subs.with(accepted)) >= before+30 && mx.Active() > 0
		})
		r.kill()
		r.start()
	}
	stop()

	ok := subs.with(accepted)
	testwait.For(t, 90*time.Second, fmt.Sprintf("the %d accepted messages to arrive", len(ok)), func() bool {
		return len(missing(mx, ok)) == 0
	})
	waitEmpty(t, admin.NewClient(adminAddr, ""), 60*time.Second)
	if err := r.stop(); err != nil {
		t.Errorf("clean stop after the kills: %v", err)
	}

	got := arrivals(mx)
	doubt := map[string]bool{}
	for _, m := range subs.with(inDoubt) {
		doubt[m] = true
	}
	accepted := map[string]bool{}
	for _, m := range ok {
		accepted[m] = true
	}
	dups, doubtArrived := 0, 0
	for marker, n := range got {
		switch {
		case accepted[marker]:
		case doubt[marker]:
			doubtArrived++
		default:
			t.Errorf("%s arrived %d times but the relay never accepted it (no 250, no final dot in flight)", marker, n)
		}
		dups += n - 1
	}
	c := verifyQueue(t, r.dataDir())
	if c.Messages+c.Bodies+c.Due+c.Held != 0 {
		t.Errorf("after the drain the queue still holds %+v", c)
	}
	t.Logf("%d kills: %d accepted (all arrived), %d refused, %d never sent whole, %d in doubt (%d of them arrived); %d duplicate arrivals",
		kills, len(ok), len(subs.with(refused)), len(subs.with(notSent)), len(doubt), doubtArrived, dups)
}
