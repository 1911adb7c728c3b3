package submission

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/internal/testwait"
	"github.com/mxout/mxout/metrics"
	"github.com/mxout/mxout/queue"
)

var queuedRe = regexp.MustCompile(`^250 2\.0\.0 Ok: queued as ([0-9a-v]{20})$`)

// queuedID checks the exact 250 reply and returns the ID in it.
func queuedID(t *testing.T, reply string) queue.ID {
	t.Helper()
	m := queuedRe.FindStringSubmatch(reply)
	if m == nil {
		t.Fatalf("reply %q, want exactly \"250 2.0.0 Ok: queued as <id>\"", reply)
	}
	id, err := queue.ParseID(m[1])
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestTrustedRelay_StoresStampedMessage(t *testing.T) {
	t.Parallel()
	date := testNow().Format(time.RFC1123Z)
	tests := []struct {
		name string
		to   []string
		data string
		// want is the stored message with "{id}" standing for the queue ID.
		want string
	}{{
		name: "adds Message-ID and Date",
		to:   []string{"b@example.com"},
		data: message("Subject: hi", "From: a@example.org", "", "Hello"),
		want: "Received: from client.example ([127.0.0.1])\r\n" +
			"\tby relay.example.net (mxout) with ESMTP id {id}\r\n" +
			"\tfor <b@example.com>; " + date + "\r\n" +
			"Message-ID: <{id}@relay.example.net>\r\n" +
			"Date: " + date + "\r\n" +
			message("Subject: hi", "From: a@example.org", "", "Hello"),
	}, {
		name: "keeps existing Message-ID and Date",
		to:   []string{"b@example.com", "c@example.org"},
		data: message("message-id: <x@y.example>", "DATE: Tue, 24 Nov 2026 10:00:00 +0100", "", "Hi"),
		want: "Received: from client.example ([127.0.0.1])\r\n" +
			"\tby relay.example.net (mxout) with ESMTP id {id};\r\n" +
			"\t" + date + "\r\n" +
			message("message-id: <x@y.example>", "DATE: Tue, 24 Nov 2026 10:00:00 +0100", "", "Hi"),
	}, {
		name: "all body",
		to:   []string{"b@example.com"},
		data: message("Hello there, no header here.", "Subject: not a header"),
		want: "Received: from client.example ([127.0.0.1])\r\n" +
			"\tby relay.example.net (mxout) with ESMTP id {id}\r\n" +
			"\tfor <b@example.com>; " + date + "\r\n" +
			"Message-ID: <{id}@relay.example.net>\r\n" +
			"Date: " + date + "\r\n" +
			"\r\n" +
			message("Hello there, no header here.", "Subject: not a header"),
	}}
	q := openQueue(t, nil)
	h := start(t, testConfig(), q, configs.TLSNone)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := dialRaw(t, h.addr)
			c.must("EHLO client.example", "250")
			id := queuedID(t, c.send("a@example.org", tt.to, dotEnd(tt.data)))
			body, err := q.Body(id)
			if err != nil {
				t.Fatal(err)
			}
			want := strings.ReplaceAll(tt.want, "{id}", string(id))
			if string(body) != want {
				t.Errorf("stored\n%q\nwant\n%q", body, want)
			}
			m, err := q.Get(id)
			if err != nil {
				t.Fatal(err)
			}
			if m.From != "a@example.org" || m.Client != "127.0.0.1" || m.User != "" || len(m.Recipients) != len(tt.to) {
				t.Errorf("envelope from=%q client=%q user=%q rcpts=%d", m.From, m.Client, m.User, len(m.Recipients))
			}
			if !strings.Contains(h.logs.String(), "msg=accepted queue_id="+string(id)+" ") {
				t.Errorf("no accepted log line starting with the queue ID:\n%s", h.logs)
			}
		})
	}
}

func TestTrustedRelay_KeepsDSNParameters(t *testing.T) {
	t.Parallel()
	fq := &fakeQueue{}
	h := start(t, testConfig(), fq, configs.TLSNone)
	c := dialRaw(t, h.addr)
	c.must("EHLO client.example", "250")
	c.must("MAIL FROM:<a@example.org> RET=HDRS ENVID=ab+2Bc", "250 ")
	c.must("RCPT TO:<b@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+2Bx@example.com", "250 ")
	c.must("RCPT TO:<c@example.com>", "250 ")
	c.must("DATA", "354 ")
	c.write(dotEnd(message("Subject: x", "", "y")))
	queuedID(t, c.reply())
	msgs := fq.messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages enqueued, want 1", len(msgs))
	}
	env := msgs[0].env
	if env.DSN.Ret != "HDRS" || env.DSN.EnvID != "ab+c" || env.UTF8 {
		t.Errorf("message DSN %+v utf8=%v", env.DSN, env.UTF8)
	}
	r := env.To[0]
	if strings.Join(r.Notify, ",") != "SUCCESS,FAILURE" || r.ORCPT != "RFC822;b+x@example.com" {
		t.Errorf("recipient params %+v", r)
	}
	if env.To[1].Notify != nil || env.To[1].ORCPT != "" {
		t.Errorf("second recipient params %+v", env.To[1])
	}
}

func TestUntrusted_AuthRequiredAtMail(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.TrustedNetworks = nil
	fq := &fakeQueue{}
	h := start(t, cfg, fq, configs.TLSNone)
	c := dialRaw(t, h.addr)
	c.must("EHLO client.example", "250")
	for _, from := range []string{"a@example.org", "postmaster@relay.example.net", ""} {
		if r := c.cmd("MAIL FROM:<" + from + ">"); r != "530 5.7.0 Authentication required" {
			t.Errorf("MAIL FROM:<%s>: %q", from, r)
		}
	}
	// No MAIL was accepted, so no RCPT is either, whatever the domain.
	for _, to := range []string{"b@example.com", "postmaster@relay.example.net"} {
		if r := c.cmd("RCPT TO:<" + to + ">"); !strings.HasPrefix(r, "502 5.5.1") {
			t.Errorf("RCPT TO:<%s>: %q", to, r)
		}
	}
	if r := c.cmd("DATA"); !strings.HasPrefix(r, "502 5.5.1") {
		t.Errorf("DATA: %q", r)
	}
	if n := len(fq.messages()); n != 0 {
		t.Errorf("%d messages enqueued", n)
	}
	if v := testutil.ToFloat64(h.m.MessagesRejected.WithLabelValues(ReasonAuthRequired)); v != 3 {
		t.Errorf("auth_required rejections %v, want 3", v)
	}
}

func TestLimitsAndAddresses(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.MaxMessageBytes = 1024
	cfg.MaxRecipients = 2
	fq := &fakeQueue{}
	h := start(t, cfg, fq, configs.TLSNone)
	c := dialRaw(t, h.addr)
	c.must("EHLO client.example", "250")

	steps := []struct{ cmd, want string }{
		{"MAIL FROM:<a@example.org> SIZE=2048", "552 5.3.4"},
		{"MAIL FROM:<no-at-sign>", "501 5.5.2"}, // go-smtp's own parser refuses it
		{"MAIL FROM:<a@localhost>", "501 5.1.7 Bad sender address syntax"},
		{"MAIL FROM:<a..b@example.org>", "501 5.1.7 Bad sender address syntax"},
		{"MAIL FROM:<\"a b\"@example.org>", "501 5.1.7 Bad sender address syntax"},
		{"MAIL FROM:<jöran@example.org>", "553 5.6.7"},
		{"MAIL FROM:<a@example.org>", "250 "},
		{"RCPT TO:<>", "501 5.5.2"}, // go-smtp: the null path is not a recipient
		{"RCPT TO:<b@-bad-.example>", "501 5.1.3 Bad recipient address syntax"},
		{"RCPT TO:<b@[300.1.1.1]>", "501 5.1.3 Bad recipient address syntax"},
		{"RCPT TO:<bö@example.com>", "553 5.6.7"},
		{"RCPT TO:<b@example.com>", "250 "},
		{"RCPT TO:<c@[192.0.2.1]>", "250 "},
		{"RCPT TO:<d@example.com>", "452 4.5.3"},
		{"RSET", "250 "},
		{"MAIL FROM:<jöran@exämple.org> SMTPUTF8", "250 "},
		{"RCPT TO:<bö@exämple.com>", "250 "},
	}
	for _, s := range steps {
		if r := c.cmd(s.cmd); !strings.HasPrefix(r, s.want) {
			t.Errorf("%s: %q, want %q", s.cmd, r, s.want)
		}
	}
	if r := c.cmd("DATA"); !strings.HasPrefix(r, "354") {
		t.Fatalf("DATA: %q", r)
	}
	c.write(dotEnd(message("Subject: big", "", strings.Repeat("x", 998), strings.Repeat("y", 998))))
	if r := c.reply(); r != "552 5.3.4 Maximum message size exceeded" {
		t.Errorf("oversize DATA: %q", r)
	}
	if n := len(fq.messages()); n != 0 {
		t.Errorf("%d messages enqueued", n)
	}
	if v := testutil.ToFloat64(h.m.MessagesRejected.WithLabelValues(ReasonSize)); v != 1 {
		t.Errorf("size rejections %v, want 1", v)
	}
	if v := testutil.ToFloat64(h.m.MessagesRejected.WithLabelValues(ReasonBadAddress)); v != 7 {
		t.Errorf("bad_address rejections %v, want 7", v)
	}
	// The session survives all of it.
	c.must("MAIL FROM:<a@example.org>", "250 ")
}

func TestData_LineTooLong(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.MaxLineLength = 100
	fq := &fakeQueue{}
	h := start(t, cfg, fq, configs.TLSNone)
	c := dialRaw(t, h.addr)
	c.must("EHLO client.example", "250")
	r := c.send("a@example.org", []string{"b@example.com"}, dotEnd(message("Subject: x", "", strings.Repeat("z", 200))))
	if !strings.HasPrefix(r, "500 5.5.2") {
		t.Errorf("long line: %q", r)
	}
	if n := len(fq.messages()); n != 0 {
		t.Errorf("%d messages enqueued", n)
	}
}

func TestSessionsActive_Gauge(t *testing.T) {
	t.Parallel()
	h := start(t, testConfig(), &fakeQueue{}, configs.TLSNone)
	g := h.m.SessionsActive.WithLabelValues(metrics.SideSubmission)
	c := dialRaw(t, h.addr)
	c.must("EHLO client.example", "250")
	if v := testutil.ToFloat64(g); v != 1 {
		t.Errorf("sessions active %v during a session, want 1", v)
	}
	c.must("QUIT", "221")
	if !testwait.Until(5*time.Second, func() bool { return testutil.ToFloat64(g) == 0 }) {
		t.Fatalf("sessions active %v after QUIT, want 0", testutil.ToFloat64(g))
	}
}
