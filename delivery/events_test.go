package delivery

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/events"
	"github.com/mxout/mxout/internal/testwait"
	"github.com/mxout/mxout/queue"
)

// Each round's events reach the queue's event log with its results: a
// delivery (dsn 2.0.0, the server's 250 reply, the MX as host[ip]), each
// temporary failure, a rejection, and the end of the lifetime.
func TestDeliver_EventsWithTheResults(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	mx := w.mx("dest.example", 10, smtptest.Options{})
	mx.SetRcpt("no@dest.example", &smtptest.Reply{Code: 550, Enhanced: [3]int{5, 1, 1}, Message: "no such user"})
	mx.SetRcptFunc(func(addr string, attempt int) *smtptest.Reply {
		if addr == "later@dest.example" && attempt == 1 {
			return &smtptest.Reply{Code: 451, Enhanced: [3]int{4, 3, 0}, Message: "try later"}
		}
		return nil
	})
	counted := map[events.Type]int{}
	var countMu sync.Mutex
	w.cfg.Events = &events.Recorder{Count: func(ty events.Type) {
		countMu.Lock()
		counted[ty]++
		countMu.Unlock()
	}}
	w.start()
	id := w.enqueue("app@sender.example", "ok@dest.example", "no@dest.example", "later@dest.example")
	w.waitFinal(id, 3, 10*time.Second)
	var evs []*events.Event
	testwait.For(t, 10*time.Second, "4 events", func() bool {
		recs, err := w.q.Events(0, 100)
		if err != nil {
			t.Fatal(err)
		}
		evs = evs[:0]
		for _, r := range recs {
			e, err := events.Decode(r.Data)
			if err != nil {
				t.Fatal(err)
			}
			evs = append(evs, e)
		}
		return len(evs) >= 4
	})
	byRcpt := map[string][]*events.Event{}
	for _, e := range evs {
		byRcpt[e.Recipient] = append(byRcpt[e.Recipient], e)
		if e.QueueID != string(id) || e.Sender != "app@sender.example" {
			t.Errorf("event %+v: queue id or sender", e)
		}
	}
	ok := byRcpt["ok@dest.example"]
	if len(ok) != 1 || ok[0].Type != events.Delivered || ok[0].DSN != "2.0.0" || !strings.HasPrefix(ok[0].Reply, "250 ") ||
		!strings.HasPrefix(ok[0].MX, "mx-") || !strings.HasSuffix(ok[0].MX, "]") || !strings.Contains(ok[0].MX, ".dest.example[127.") {
		t.Errorf("delivered: %+v", ok)
	}
	if no := byRcpt["no@dest.example"]; len(no) != 1 || no[0].Type != events.Bounced || no[0].DSN != "5.1.1" || !strings.Contains(no[0].Reply, "no such user") {
		t.Errorf("bounced: %+v", no)
	}
	later := byRcpt["later@dest.example"]
	if len(later) != 2 || later[0].Type != events.Deferred || later[0].DSN != "4.3.0" || later[0].Attempt != 1 ||
		later[1].Type != events.Delivered || later[1].Attempt != 2 {
		t.Errorf("deferred then delivered: %+v", later)
	}
	countMu.Lock()
	defer countMu.Unlock()
	if counted[events.Delivered] != 2 || counted[events.Bounced] != 1 || counted[events.Deferred] != 1 {
		t.Errorf("counted %v", counted)
	}
}

// A recipient that keeps failing until its lifetime ends gets deferred
// events, then an expired one.
func TestDeliver_ExpiredEvent(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	mx := w.mx("slow.example", 10, smtptest.Options{})
	mx.SetRcpt("u@slow.example", &smtptest.Reply{Code: 451, Enhanced: [3]int{4, 4, 1}, Message: "busy"})
	w.cfg.Retry.MaxLifetime = 150 * time.Millisecond
	w.cfg.Events = &events.Recorder{}
	w.start()
	id := w.enqueue("app@sender.example", "u@slow.example")
	w.waitFinal(id, 1, 10*time.Second)
	var last *events.Event
	testwait.For(t, 10*time.Second, "the expired event", func() bool {
		recs, _ := w.q.Events(0, 100)
		if len(recs) == 0 {
			return false
		}
		last, _ = events.Decode(recs[len(recs)-1].Data)
		return last != nil && last.Type != events.Deferred
	})
	if last.Type != events.Expired || last.DSN != "5.4.7" || !strings.Contains(last.Reply, "busy") {
		t.Errorf("last event %+v, want expired 5.4.7 with the last error", last)
	}
	if _, err := w.q.Get(id); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("message still queued: %v", err)
	}
}
