package delivery

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/internal/testwait"
	"github.com/mxout/mxout/queue"
)

// roundResult finds the last round result of addr in message id.
func (w *world) roundResult(id queue.ID, addr string) (queue.RoundResult, bool) {
	var out queue.RoundResult
	found := false
	for _, r := range w.notes.allRounds() {
		if r.Message.ID != id {
			continue
		}
		for _, res := range r.Results {
			if r.Message.Recipients[res.Index].Addr == addr {
				out, found = res, true
			}
		}
	}
	return out, found
}

func TestNotify_RemoteDSNReachesTheNotifier(t *testing.T) {
	t.Parallel()
	eachWire(t, func(t *testing.T, w *world) {
		w.mx("dsn.example", 10, smtptest.Options{DSN: true})
		w.mx("nodsn.example", 10, smtptest.Options{})
		w.start()
		id := w.enqueue("app@sender.example", "u@dsn.example", "v@nodsn.example")
		w.waitFinal(id, 2, 10*time.Second)
		for addr, want := range map[string]bool{"u@dsn.example": true, "v@nodsn.example": false} {
			r, ok := w.roundResult(id, addr)
			if !ok || r.State != queue.Delivered || r.RemoteDSN != want {
				t.Errorf("%s: round result %+v (found %v), want delivered with RemoteDSN=%v", addr, r, ok, want)
			}
		}
	})
}

func TestNotify_RunsBeforeTheQueueRecords(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	mx := w.mx("gone.example", 10, smtptest.Options{})
	mx.SetRcpt("u@gone.example", &smtptest.Reply{Code: 550, Enhanced: [3]int{5, 1, 1}, Message: "no such user"})
	w.start()
	id := w.enqueue("app@sender.example", "u@gone.example")
	w.waitFinal(id, 1, 10*time.Second)
	rounds := w.notes.allRounds()
	if len(rounds) != 1 {
		t.Fatalf("%d rounds, want 1", len(rounds))
	}
	r := rounds[0]
	if r.Message.Recipients[0].State != queue.Pending || r.Body == nil || !strings.Contains(string(r.Body), "hello") || r.Time.IsZero() {
		t.Errorf("round = %+v: want the message as leased, with its body", r)
	}
	if _, err := w.q.Get(id); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("after the round the message is still queued (err %v)", err)
	}
}

func TestNotify_FailedNoticeNotQueuedKeepsTheRecipient(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	mx := w.mx("gone.example", 10, smtptest.Options{})
	mx.SetRcpt("u@gone.example", &smtptest.Reply{Code: 550, Enhanced: [3]int{5, 1, 1}, Message: "no such user"})
	w.notes.setErr(errors.New("queue: not enough free disk space"))
	// The retry comes when the test asks for it (queue.Retry), never on
	// the engine's own schedule: a retry that came before the notifier
	// was mended would fail its notice again and try a third RCPT.
	w.cfg.Retry.Initial, w.cfg.Retry.MaxInterval = time.Hour, time.Hour
	w.start()
	id := w.enqueue("app@sender.example", "u@gone.example")
	testwait.For(t, 10*time.Second, "a first round", func() bool { return len(w.notes.allRounds()) >= 1 && !w.q.Leased(id) })
	m, err := w.q.Get(id)
	if err != nil {
		t.Fatalf("the message was dropped although its failure notice was not queued: %v", err)
	}
	rc := m.Recipients[0]
	if rc.State != queue.Pending || rc.Status != "4.3.0" || !strings.Contains(rc.LastResponse, "550 5.1.1 no such user") || !rc.NextAttempt.After(rc.LastAttempt) {
		t.Errorf("recipient after a lost notice: %+v; want pending 4.3.0 with a later retry", rc)
	}
	w.notes.setErr(nil)
	if err := w.q.Retry(id); err != nil {
		t.Fatal(err)
	}
	final := w.waitFinal(id, 1, 10*time.Second)
	if r := final["u@gone.example"]; r.State != queue.Failed || r.Status != "5.1.1" {
		t.Errorf("final %+v, want failed 5.1.1 once the notice could be queued", r)
	}
	if n := mx.RcptAttempts("u@gone.example"); n != 2 {
		t.Errorf("RCPT attempts = %d, want 2", n)
	}
}

func TestNotify_DelayNotifiedIsRecorded(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	mx := w.mx("busy.example", 10, smtptest.Options{})
	mx.SetRcpt("u@busy.example", &smtptest.Reply{Code: 452, Enhanced: [3]int{4, 2, 2}, Message: "mailbox full"})
	w.notes.delay = true
	w.start()
	w.enqueue("app@sender.example", "u@busy.example")
	testwait.For(t, 10*time.Second, "a second round", func() bool { return len(w.notes.allRounds()) >= 2 })
	rounds := w.notes.allRounds()
	if rounds[0].Message.DelayNotified || !rounds[1].Message.DelayNotified {
		t.Errorf("DelayNotified in rounds 1 and 2: %v, %v; want false, true", rounds[0].Message.DelayNotified, rounds[1].Message.DelayNotified)
	}
}
