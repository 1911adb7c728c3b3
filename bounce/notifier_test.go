package bounce

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxout/mxout/metrics"
	"github.com/mxout/mxout/queue"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var (
	arrival = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	roundAt = arrival.Add(5 * time.Hour)
)

// fakeQueue records what is enqueued and fails while err is set.
type fakeQueue struct {
	mu   sync.Mutex
	err  error
	sent []enqueued
}

type enqueued struct {
	id   queue.ID
	env  queue.Envelope
	body string
}

func (q *fakeQueue) Enqueue(_ context.Context, id queue.ID, env queue.Envelope, body []byte) (queue.ID, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return "", q.err
	}
	q.sent = append(q.sent, enqueued{id, env, string(body)})
	return id, nil
}

type setup struct {
	n    *Notifier
	q    *fakeQueue
	m    *metrics.Metrics
	logs *bytes.Buffer
}

func newSetup(t *testing.T, edit func(*Config)) setup {
	t.Helper()
	s := setup{q: &fakeQueue{}, m: metrics.New(prometheus.NewRegistry()), logs: &bytes.Buffer{}}
	cfg := Config{
		Hostname: "relay.example.org", MaxOriginalBytes: 1000, DelayNoticeAfter: 4 * time.Hour, MaxLifetime: 120 * time.Hour,
		Logger: slog.New(slog.NewTextHandler(s.logs, nil)), Metrics: s.m, Now: func() time.Time { return roundAt },
	}
	if edit != nil {
		edit(&cfg)
	}
	n, err := New(cfg, s.q)
	if err != nil {
		t.Fatal(err)
	}
	s.n = n
	return s
}

const body = "From: app@sender.example\r\nSubject: receipt\r\nMessage-ID: <r1@sender.example>\r\n\r\nThank you.\r\n"

// rcpt is a recipient with its round result.
type rcpt struct {
	addr, orcpt string
	notify      []string
	state       queue.State // this round's result; Pending with skip = not in the round
	skip        bool
	remoteDSN   bool
}

func round(from, ret string, delayNotified bool, rcpts ...rcpt) queue.Round {
	m := &queue.Message{ID: "0123456789abcdefghij", Envelope: queue.Envelope{From: from, DSN: queue.MessageDSN{Ret: ret, EnvID: "env-1"}},
		Arrival: arrival, DelayNotified: delayNotified}
	r := queue.Round{Message: m, Body: []byte(body), Time: roundAt}
	for i, rc := range rcpts {
		m.Recipients = append(m.Recipients, queue.Recipient{
			RecipientParams: queue.RecipientParams{Addr: rc.addr, Notify: rc.notify, ORCPT: rc.orcpt},
			Attempts:        1, LastAttempt: arrival, LastResponse: "451 4.3.0 earlier", Status: "4.3.0", RemoteMTA: "mx.dest.example",
		})
		if rc.skip {
			continue
		}
		res := queue.Result{Index: i, State: rc.state, Attempted: roundAt.Add(-time.Second), RemoteMTA: "mx.dest.example"}
		switch rc.state {
		case queue.Failed:
			res.Status, res.Response = "5.1.1", "550 5.1.1 no such user "+rc.addr
		case queue.Delivered:
			res.Status, res.Response = "2.0.0", "250 2.0.0 Ok"
		default:
			res.Status, res.Response = "4.2.2", "452 4.2.2 mailbox full"
		}
		r.Results = append(r.Results, queue.RoundResult{Result: res, RemoteDSN: rc.remoteDSN})
	}
	return r
}

// partial marks r as a part of a round, as delivery reports one
// destination's results before the round ends.
func partial(r queue.Round) queue.Round {
	r.Partial = true
	return r
}

func TestNotify_Rules(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		cfg   func(*Config)
		round queue.Round
		// want is one entry per report: "kind to" and fragments it must contain.
		want      []wantReport
		wantDelay bool
	}{
		{name: "failure covers every failed recipient, default NOTIFY",
			round: round("app@sender.example", "", false,
				rcpt{addr: "a@dest.example", state: queue.Failed, orcpt: "RFC822;orig-a@sender.example"},
				rcpt{addr: "b@dest.example", state: queue.Failed},
				rcpt{addr: "ok@dest.example", state: queue.Delivered}),
			want: []wantReport{{kind: "failure", to: "app@sender.example", has: []string{
				"Final-Recipient: rfc822; a@dest.example", "Original-Recipient: rfc822; orig-a@sender.example",
				"Final-Recipient: rfc822; b@dest.example", "Original-Envelope-Id: env-1", "Content-Type: message/rfc822",
			}, hasNot: []string{"ok@dest.example>"}}}},
		{name: "NOTIFY=NEVER and NOTIFY without FAILURE are left out",
			round: round("app@sender.example", "", false,
				rcpt{addr: "never@dest.example", notify: []string{"NEVER"}, state: queue.Failed},
				rcpt{addr: "succ@dest.example", notify: []string{"SUCCESS"}, state: queue.Failed},
				rcpt{addr: "fail@dest.example", notify: []string{"FAILURE", "DELAY"}, state: queue.Failed}),
			want: []wantReport{{kind: "failure", to: "app@sender.example", has: []string{"rfc822; fail@dest.example"},
				hasNot: []string{"never@dest.example", "succ@dest.example"}}}},
		{name: "only NOTIFY=NEVER: no report",
			round: round("app@sender.example", "", false, rcpt{addr: "never@dest.example", notify: []string{"NEVER"}, state: queue.Failed})},
		{name: "RET=HDRS returns the header",
			round: round("app@sender.example", "HDRS", false, rcpt{addr: "a@dest.example", state: queue.Failed}),
			want:  []wantReport{{kind: "failure", to: "app@sender.example", has: []string{"Content-Type: text/rfc822-headers"}, hasNot: []string{"Thank you."}}}},
		{name: "no RET and a large message: the header, with a note",
			cfg:   func(c *Config) { c.MaxOriginalBytes = 10 },
			round: round("app@sender.example", "", false, rcpt{addr: "a@dest.example", state: queue.Failed}),
			want: []wantReport{{kind: "failure", to: "app@sender.example", has: []string{"Content-Type: text/rfc822-headers",
				"larger than 10 bytes, so only its headers are attached"}}}},
		{name: "RET=FULL is honoured above the cap",
			cfg:   func(c *Config) { c.MaxOriginalBytes = 10 },
			round: round("app@sender.example", "FULL", false, rcpt{addr: "a@dest.example", state: queue.Failed}),
			want:  []wantReport{{kind: "failure", to: "app@sender.example", has: []string{"Content-Type: message/rfc822", "Thank you."}}}},
		{name: "null sender without postmaster: dropped",
			round: round("", "", false, rcpt{addr: "a@dest.example", state: queue.Failed})},
		{name: "null sender with postmaster: a copy to the postmaster, headers only",
			cfg:   func(c *Config) { c.Postmaster = "postmaster@relay.example.org" },
			round: round("", "FULL", false, rcpt{addr: "a@dest.example", notify: []string{"NEVER"}, state: queue.Failed}),
			want: []wantReport{{kind: "failure", to: "postmaster@relay.example.org", has: []string{"Subject: Postmaster Copy: Undelivered Mail",
				"rfc822; a@dest.example", "Content-Type: text/rfc822-headers"}}}},
		{name: "null sender to the postmaster failing: dropped (double bounce)",
			cfg:   func(c *Config) { c.Postmaster = "Postmaster@relay.example.org" },
			round: round("", "", false, rcpt{addr: "postmaster@relay.example.org", state: queue.Failed})},
		{name: "success relayed to a server without DSN",
			round: round("app@sender.example", "FULL", false,
				rcpt{addr: "s@dest.example", notify: []string{"SUCCESS"}, state: queue.Delivered},
				rcpt{addr: "dsn@dest.example", notify: []string{"SUCCESS"}, state: queue.Delivered, remoteDSN: true},
				rcpt{addr: "plain@dest.example", state: queue.Delivered}),
			want: []wantReport{{kind: "success", to: "app@sender.example", has: []string{"Action: relayed", "rfc822; s@dest.example",
				"Content-Type: text/rfc822-headers"}, hasNot: []string{"dsn@dest.example", "plain@dest.example", "Thank you."}}}},
		{name: "success and failure in one round are two reports",
			round: round("app@sender.example", "", false,
				rcpt{addr: "s@dest.example", notify: []string{"SUCCESS", "FAILURE"}, state: queue.Delivered},
				rcpt{addr: "f@dest.example", state: queue.Failed}),
			want: []wantReport{{kind: "failure", to: "app@sender.example", has: []string{"Action: failed"}},
				{kind: "success", to: "app@sender.example", has: []string{"Action: relayed"}}}},
		{name: "no success notice for the null sender",
			round: round("", "", false, rcpt{addr: "s@dest.example", notify: []string{"SUCCESS"}, state: queue.Delivered})},
		{name: "delay after delay_notice_after for NOTIFY=DELAY, pending in or out of the round",
			round: round("app@sender.example", "FULL", false,
				rcpt{addr: "d@dest.example", notify: []string{"DELAY"}, state: queue.Pending},
				rcpt{addr: "later@dest.example", notify: []string{"FAILURE", "DELAY"}, skip: true},
				rcpt{addr: "quiet@dest.example", state: queue.Pending}),
			want: []wantReport{{kind: "delay", to: "app@sender.example", has: []string{"Action: delayed",
				"rfc822; d@dest.example", "Diagnostic-Code: smtp; 452 4.2.2 mailbox full", "rfc822; later@dest.example",
				"Diagnostic-Code: smtp; 451 4.3.0 earlier", "Will-Retry-Until: Sat, 07 Mar 2026 09:00:00 +0000",
				"Content-Type: text/rfc822-headers"}, hasNot: []string{"quiet@dest.example", "Thank you."}}},
			wantDelay: true},
		{name: "a delay notice waits for the round's last part",
			round: partial(round("app@sender.example", "", false,
				rcpt{addr: "d@dest.example", notify: []string{"DELAY"}, state: queue.Pending},
				rcpt{addr: "s@dest.example", notify: []string{"SUCCESS"}, state: queue.Delivered})),
			want: []wantReport{{kind: "success", to: "app@sender.example", has: []string{"Action: relayed", "rfc822; s@dest.example"},
				hasNot: []string{"d@dest.example"}}}},
		{name: "no delay notice before delay_notice_after",
			cfg:   func(c *Config) { c.DelayNoticeAfter = 6 * time.Hour },
			round: round("app@sender.example", "", false, rcpt{addr: "d@dest.example", notify: []string{"DELAY"}, state: queue.Pending})},
		{name: "delay notices disabled",
			cfg:   func(c *Config) { c.DelayNoticeAfter = 0 },
			round: round("app@sender.example", "", false, rcpt{addr: "d@dest.example", notify: []string{"DELAY"}, state: queue.Pending})},
		{name: "only one delay notice per message",
			round: round("app@sender.example", "", true, rcpt{addr: "d@dest.example", notify: []string{"DELAY"}, state: queue.Pending})},
		{name: "default NOTIFY gets no delay notice",
			round: round("app@sender.example", "", false, rcpt{addr: "d@dest.example", state: queue.Pending})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newSetup(t, tc.cfg)
			got, err := s.n.Notify(context.Background(), tc.round)
			if err != nil {
				t.Fatal(err)
			}
			if got.DelayNotified != tc.wantDelay {
				t.Errorf("DelayNotified = %v, want %v", got.DelayNotified, tc.wantDelay)
			}
			if len(s.q.sent) != len(tc.want) {
				t.Fatalf("%d reports queued, want %d:\n%v", len(s.q.sent), len(tc.want), s.q.sent)
			}
			for i, w := range tc.want {
				w.check(t, s, s.q.sent[i], tc.round.Message.ID)
			}
		})
	}
}

type wantReport struct {
	kind, to    string
	has, hasNot []string
}

func (w wantReport) check(t *testing.T, s setup, e enqueued, origID queue.ID) {
	t.Helper()
	if e.env.From != "" || len(e.env.To) != 1 || e.env.To[0].Addr != w.to || len(e.env.To[0].Notify) != 0 {
		t.Errorf("%s report envelope %+v, want <> to %s", w.kind, e.env, w.to)
	}
	if !strings.Contains(e.body, "Message-ID: <"+string(e.id)+"@relay.example.org>") {
		t.Errorf("%s report queued as %s, but its Message-ID differs", w.kind, e.id)
	}
	for _, h := range append([]string{"Reporting-MTA: dns; relay.example.org", "X-Mxout-Queue-ID: " + string(origID),
		"From: Mail Delivery System <MAILER-DAEMON@relay.example.org>", "Auto-Submitted: auto-replied"}, w.has...) {
		if !strings.Contains(e.body, h) {
			t.Errorf("%s report lacks %q:\n%s", w.kind, h, e.body)
		}
	}
	for _, h := range w.hasNot {
		if strings.Contains(e.body, h) {
			t.Errorf("%s report has %q:\n%s", w.kind, h, e.body)
		}
	}
	if n := testutil.ToFloat64(s.m.BouncesSent.WithLabelValues(w.kind)); n < 1 {
		t.Errorf("mxout_bounces_sent_total{type=%q} = %v", w.kind, n)
	}
	line := "queue_id=" + string(origID) + " bounce_id=" + string(e.id) + " type=" + w.kind
	if !strings.Contains(s.logs.String(), line) {
		t.Errorf("no log line with %q:\n%s", line, s.logs)
	}
}

func TestNotify_QueueErrors(t *testing.T) {
	t.Parallel()
	full := errors.New("queue: not enough free disk space")
	t.Run("a failure report that cannot be queued is an error", func(t *testing.T) {
		t.Parallel()
		s := newSetup(t, nil)
		s.q.err = full
		_, err := s.n.Notify(context.Background(), round("app@sender.example", "", false, rcpt{addr: "a@dest.example", state: queue.Failed}))
		if !errors.Is(err, full) {
			t.Errorf("err = %v, want the queue's", err)
		}
	})
	t.Run("a success or delay report that cannot be queued is only logged", func(t *testing.T) {
		t.Parallel()
		s := newSetup(t, nil)
		s.q.err = full
		got, err := s.n.Notify(context.Background(), round("app@sender.example", "", false,
			rcpt{addr: "s@dest.example", notify: []string{"SUCCESS"}, state: queue.Delivered},
			rcpt{addr: "d@dest.example", notify: []string{"DELAY"}, state: queue.Pending}))
		if err != nil || got.DelayNotified {
			t.Errorf("Notify = %+v, %v; want no error and no delay recorded", got, err)
		}
		if !strings.Contains(s.logs.String(), "success notice lost") || !strings.Contains(s.logs.String(), "will try next round") {
			t.Errorf("log:\n%s", s.logs)
		}
	})
}

func TestNotify_UTF8SenderNeedsSMTPUTF8(t *testing.T) {
	t.Parallel()
	s := newSetup(t, nil)
	if _, err := s.n.Notify(context.Background(), round("jörg@absender.example", "", false, rcpt{addr: "a@dest.example", state: queue.Failed})); err != nil {
		t.Fatal(err)
	}
	if len(s.q.sent) != 1 || !s.q.sent[0].env.UTF8 {
		t.Errorf("report to a UTF-8 sender not queued with UTF8: %+v", s.q.sent)
	}
}

func TestNotify_NoBodyStillReports(t *testing.T) {
	t.Parallel()
	s := newSetup(t, nil)
	r := round("app@sender.example", "", false, rcpt{addr: "a@dest.example", state: queue.Failed})
	r.Body = nil
	if _, err := s.n.Notify(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if len(s.q.sent) != 1 || !strings.Contains(s.q.sent[0].body, "It is not attached.") {
		t.Errorf("report without the body: %+v", s.q.sent)
	}
}

func TestNew_Refuses(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]Config{
		"no hostname":        {},
		"bad hostname":       {Hostname: "a b"},
		"bad postmaster":     {Hostname: "h", Postmaster: "postmaster"},
		"negative size":      {Hostname: "h", MaxOriginalBytes: -1},
		"negative threshold": {Hostname: "h", DelayNoticeAfter: -time.Second},
	} {
		if _, err := New(cfg, &fakeQueue{}); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
}

func TestWants(t *testing.T) {
	t.Parallel()
	cases := []struct {
		notify []string
		event  string
		want   bool
	}{
		{nil, "FAILURE", true},
		{nil, "DELAY", false},
		{nil, "SUCCESS", false},
		{[]string{"NEVER"}, "FAILURE", false},
		{[]string{"SUCCESS"}, "FAILURE", false},
		{[]string{"SUCCESS"}, "SUCCESS", true},
		{[]string{"FAILURE", "DELAY"}, "DELAY", true},
		{[]string{"delay"}, "DELAY", true},
	}
	for _, tc := range cases {
		if got := wants(queue.RecipientParams{Notify: tc.notify}, tc.event); got != tc.want {
			t.Errorf("wants(NOTIFY=%v, %s) = %v, want %v", tc.notify, tc.event, got, tc.want)
		}
	}
}
