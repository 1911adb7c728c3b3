package submission

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mxout/mxout/configs"
)

// received returns n Received fields, each folded over two lines as
// relays write them.
func received(n int) string {
	return strings.Repeat("Received: from a.example by b.example;\r\n\tWed, 25 Nov 2026 13:04:05 +0100\r\n", n)
}

func TestCountReceived(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, msg string
		want      int
	}{
		{"none", "Subject: x\r\n\r\nbody\r\n", 0},
		{"folded fields count once", received(3) + "Subject: x\r\n\r\n", 3},
		{"any case, space before the colon", "received: a\r\nRECEIVED : b\r\n\r\n", 2},
		{"a continuation line that reads Received: is not a field", "Subject: x\r\n Received: a\r\n\tReceived: b\r\n\r\n", 0},
		{"fields in the body do not count", "Received: a\r\n\r\n" + received(60), 1},
		{"the header ends at a line that is not a field", "Received: a\r\nnot a field\r\n" + received(60), 1},
		{"all header, no body", received(2), 2},
		{"other trace fields are not hops", "Return-Path: <a@b>\r\nX-Received: a\r\nReceived-SPF: pass\r\n\r\n", 0},
	}
	for _, tt := range tests {
		if got := countReceived([]byte(tt.msg)); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
}

// More than 50 Received fields is a loop (Postfix hopcount_limit): 554
// 5.4.6, in DATA and in BDAT; 50 still pass, and only the header counts.
func TestData_MailLoopRefused(t *testing.T) {
	t.Parallel()
	const want = "554 5.4.6 Too many hops (more than 50 Received: fields), mail loop?"
	fq := &fakeQueue{}
	h := start(t, testConfig(), fq, configs.TLSNone)
	c := dialRaw(t, h.addr)
	c.must("EHLO client.example", "250")

	if r := c.send("a@example.org", []string{"b@example.com"}, dotEnd(received(51)+message("Subject: loop", "", "body"))); r != want {
		t.Errorf("51 Received fields by DATA: %q, want %q", r, want)
	}
	c.must("MAIL FROM:<a@example.org>", "250")
	c.must("RCPT TO:<b@example.com>", "250")
	if r := c.bdat(received(51)+message("Subject: loop", "", "body"), true); r != want {
		t.Errorf("51 Received fields by BDAT: %q, want %q", r, want)
	}
	// The session goes on, and a loop is no client error.
	queuedID(t, c.send("a@example.org", []string{"b@example.com"}, dotEnd(received(50)+message("Subject: 50 hops", "", received(10)))))
	if v := testutil.ToFloat64(h.m.MessagesRejected.WithLabelValues(ReasonTooManyHops)); v != 2 {
		t.Errorf("too_many_hops rejections %v, want 2", v)
	}
	msgs := fq.messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages queued, want the one with 50 hops", len(msgs))
	}
	// The relay's own Received field makes 51: the limit is on the
	// message as the client submitted it (docs/security.md).
	if n := countReceived(msgs[0].body); n != 51 {
		t.Errorf("queued message has %d Received fields, want 51", n)
	}
	if !strings.Contains(h.logs.String(), "received_fields=51") {
		t.Errorf("no log line with the count:\n%s", h.logs)
	}
}
