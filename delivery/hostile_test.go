package delivery

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/internal/testlog"
	"github.com/mxout/mxout/internal/testwait"
	"github.com/mxout/mxout/metrics"
	"github.com/mxout/mxout/queue"
)

// oneAttempt makes w retry only after the test has ended, so that what a
// test counts comes from one attempt.
func (w *world) oneAttempt() {
	w.cfg.Retry = Backoff{Initial: time.Hour, Multiplier: 2, MaxInterval: time.Hour, MaxLifetime: 24 * time.Hour}
}

// An adversarial server at each stage of the session, on both outbound
// clients: its oversized reply ends the session as a temporary failure
// ("reply too long"), and the relay stops reading at once.
func TestDeliver_HostileReplies(t *testing.T) {
	t.Parallel()
	const limit = 64 << 20 // what the server would send if the client kept reading
	tests := []struct {
		name      string
		hostile   smtptest.Hostile
		tls       bool // the server offers STARTTLS
		policy    configs.TLSPolicy
		smarthost bool
	}{
		{name: "giant greeting", hostile: smtptest.Hostile{Stage: smtptest.AtGreeting, Mode: smtptest.GiantLine}},
		{name: "endless greeting", hostile: smtptest.Hostile{Stage: smtptest.AtGreeting, Mode: smtptest.EndlessReply}},
		{name: "giant EHLO reply in the STARTTLS prologue", hostile: smtptest.Hostile{Stage: smtptest.AtEHLO, Mode: smtptest.GiantLine}, tls: true},
		{name: "endless EHLO reply to go-smtp", hostile: smtptest.Hostile{Stage: smtptest.AtEHLO, Mode: smtptest.EndlessReply}, policy: configs.TLSDisabled},
		{name: "endless MAIL reply over STARTTLS", hostile: smtptest.Hostile{Stage: smtptest.AtMail, Mode: smtptest.EndlessReply}, tls: true},
		{name: "giant MAIL reply", hostile: smtptest.Hostile{Stage: smtptest.AtMail, Mode: smtptest.GiantLine, Code: 250}},
		{name: "giant RCPT reply", hostile: smtptest.Hostile{Stage: smtptest.AtRcpt, Mode: smtptest.GiantLine, Code: 450}},
		{name: "endless reply to the final dot", hostile: smtptest.Hostile{Stage: smtptest.AtData, Mode: smtptest.EndlessReply}},
		{name: "smarthost: giant greeting", hostile: smtptest.Hostile{Stage: smtptest.AtGreeting, Mode: smtptest.GiantLine}, smarthost: true},
		{name: "smarthost: endless RCPT reply over STARTTLS", hostile: smtptest.Hostile{Stage: smtptest.AtRcpt, Mode: smtptest.EndlessReply}, tls: true, smarthost: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			eachWireOf(t, wiresFor(tt.tls), func(t *testing.T, w *world) {
				w.oneAttempt()
				opts := smtptest.Options{TLS: tt.tls}
				var mx *smtptest.Server
				if tt.smarthost {
					opts.Addr = w.net.Addr(w.net.NextIP())
					mx = smtptest.NewServer(t, w.wired(opts))
					w.cfg.Smarthost = Smarthost{Address: hostPort(t, mx.Addr()), TLS: configs.TLSNone}
					if tt.tls {
						w.cfg.Smarthost.TLS = configs.TLSStartTLS
					}
				} else {
					mx = w.mx("hostile.example", 10, opts)
				}
				if tt.policy != "" {
					w.cfg.TLS = tt.policy
				}
				h := tt.hostile
				h.Limit = limit
				mx.SetHostile(&h)
				dialer := &recordingDialer{}
				w.cfg.Dialer = dialer
				m := metrics.New(prometheus.NewRegistry())
				w.cfg.Metrics = m
				w.start()
				id := w.enqueue("app@sender.example", "u@hostile.example")
				r := w.firstResult(id, "u@hostile.example")
				if r.State != queue.Pending || r.Status != "4.5.0" || !strings.Contains(r.Response, "reply too long") {
					t.Errorf("result = %+v, want a 4.5.0 deferral saying \"reply too long\"", r)
				}
				// The limiter stops at 64 KiB; buffers of one read more may be in.
				if n := dialer.read.Load(); n > 256<<10 {
					t.Errorf("read %d octets from the hostile server; want the session ended within the reply limits", n)
				}
				if got := testutil.ToFloat64(m.DeliveryDefences.WithLabelValues(metrics.DefenceReplyTooLong)); got < 1 {
					t.Errorf("reply_too_long defences = %v, want at least 1", got)
				}
			})
		})
	}
}

// A 2 MiB 450 to RCPT (multi-line, each line within go-smtp's 2,000) used
// to be stored whole with every recipient: the session now ends at the
// 64 KiB reply limit, and the queue record stays small.
func TestDeliver_HugeRcptReplyKeepsRecordSmall(t *testing.T) {
	t.Parallel()
	eachWire(t, func(t *testing.T, w *world) {
		w.oneAttempt()
		mx := w.mx("verbose.example", 10, smtptest.Options{})
		line := strings.Repeat("x", 1000)
		huge := strings.TrimSuffix(strings.Repeat(line+"\n", 2<<20/len(line)), "\n")
		mx.SetRcptFunc(func(string, int) *smtptest.Reply {
			return &smtptest.Reply{Code: 450, Enhanced: [3]int{4, 2, 0}, Message: huge}
		})
		w.start()
		rcpts := []string{"a@verbose.example", "b@verbose.example", "c@verbose.example", "d@verbose.example", "e@verbose.example"}
		id := w.enqueue("app@sender.example", rcpts...)
		for _, rc := range rcpts {
			if r := w.firstResult(id, rc); r.State != queue.Pending || r.Status != "4.5.0" {
				t.Errorf("%s: %+v, want a 4.5.0 deferral", rc, r)
			}
		}
		waitRecorded(t, w, id)
		m, err := w.q.Get(id)
		if err != nil {
			t.Fatal(err)
		}
		for _, rc := range m.Recipients {
			// The round was recorded (a 10 MB record would fail to write in
			// this small test queue, and prove nothing).
			if rc.Attempts != 1 || !strings.Contains(rc.LastResponse, "reply too long") {
				t.Errorf("%s stored: %d attempts, %.80q", rc.Addr, rc.Attempts, rc.LastResponse)
			}
		}
		rec, _ := json.Marshal(m) // the queue stores this encoding
		if len(rec) > 8<<10 {
			t.Errorf("the queue record is %d bytes after a 2 MiB RCPT reply; want it small", len(rec))
		}
		t.Logf("queue record after a 2 MiB RCPT reply to 5 recipients: %d bytes", len(rec))
	})
}

// A reply within the limits but longer than 1 KiB is stored, logged and
// handed to the DSN cut to 1 KiB, marked as cut.
func TestDeliver_LongReplyIsClipped(t *testing.T) {
	t.Parallel()
	eachWire(t, func(t *testing.T, w *world) {
		mx := w.mx("wordy.example", 10, smtptest.Options{})
		long := strings.TrimSuffix(strings.Repeat(strings.Repeat("y", 900)+"\n", 60), "\n") // 54 KB, 60 lines
		mx.SetRcpt("gone@wordy.example", &smtptest.Reply{Code: 550, Enhanced: [3]int{5, 1, 1}, Message: long})
		logs := &testlog.Buffer{}
		w.cfg.Logger = slog.New(slog.NewJSONHandler(logs, nil))
		w.start()
		id := w.enqueue("app@sender.example", "gone@wordy.example")
		r := w.waitFinal(id, 1, 10*time.Second)["gone@wordy.example"]
		if r.State != queue.Failed || len(r.Response) > maxResponse ||
			!strings.HasPrefix(r.Response, "550 yyy") || !strings.HasSuffix(r.Response, cutMark) {
			t.Errorf("result = %.80q... (%d bytes, status %s); want the 550 cut to %d bytes and marked", r.Response, len(r.Response), r.Status, maxResponse)
		}
		for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
			var l map[string]any
			if err := json.Unmarshal([]byte(line), &l); err != nil {
				t.Fatal(err)
			}
			if s, _ := l["response"].(string); len(s) > maxResponse {
				t.Errorf("log line %q has a %d-byte response", l["msg"], len(s))
			}
		}
		for _, round := range w.notes.allRounds() {
			for _, res := range round.Results {
				if len(res.Response) > maxResponse {
					t.Errorf("the notifier (DSN) got a %d-byte response", len(res.Response))
				}
			}
		}
	})
}

// A server that drips its greeting one octet a second is given up on at
// the greeting timeout.
func TestDeliver_DrippedGreetingTimesOut(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.oneAttempt()
	mx := w.mx("drip.example", 10, smtptest.Options{})
	mx.SetHostile(&smtptest.Hostile{Stage: smtptest.AtGreeting, Mode: smtptest.Drip, Interval: time.Second})
	w.cfg.Timeouts.Greeting = 1500 * time.Millisecond
	w.start()
	id := w.enqueue("app@sender.example", "u@drip.example")
	if r := w.firstResult(id, "u@drip.example"); r.State != queue.Pending || r.Status != "4.4.2" {
		t.Errorf("result = %+v, want a 4.4.2 timeout", r)
	}
}

// Garbage instead of a greeting or an EHLO reply is a temporary failure.
func TestDeliver_GarbageReplies(t *testing.T) {
	t.Parallel()
	eachWire(t, func(t *testing.T, w0 *world) {
		for _, stage := range []smtptest.Stage{smtptest.AtGreeting, smtptest.AtEHLO, smtptest.AtMail, smtptest.AtRcpt} {
			w := newWorld(t)
			w.wire = w0.wire
			w.oneAttempt()
			mx := w.mx("junk.example", 10, smtptest.Options{})
			mx.SetHostile(&smtptest.Hostile{Stage: stage, Mode: smtptest.Garbage})
			w.start()
			id := w.enqueue("app@sender.example", "u@junk.example")
			if r := w.firstResult(id, "u@junk.example"); r.State != queue.Pending || !strings.HasPrefix(r.Status, "4.") {
				t.Errorf("stage %d: result = %+v, want a temporary failure", stage, r)
			}
		}
	})
}

// waitRecorded waits until the queue has recorded id's round.
func waitRecorded(t *testing.T, w *world, id queue.ID) {
	t.Helper()
	testwait.Until(10*time.Second, func() bool { return !w.q.Leased(id) })
}
