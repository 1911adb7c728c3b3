package submission

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mxout/mxout/configs"
)

// bdat writes one BDAT command with its chunk and returns the reply.
func (rc *rawConn) bdat(chunk string, last bool) string {
	rc.t.Helper()
	cmd := fmt.Sprintf("BDAT %d", len(chunk))
	if last {
		cmd += " LAST"
	}
	rc.write(cmd + "\r\n" + chunk)
	return rc.reply()
}

// go-smtp hands BDAT chunks to Session.Data through a pipe, so the same
// reader guards them: no bare LF or CR may reach the queue by CHUNKING
// either, and line lengths are checked although go-smtp lifts its own
// line limit for chunks.
func TestBDAT_Guarded(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		chunks []string // the last is sent with LAST
		want   string   // reply to the last chunk sent
		reason string
	}{
		{"bare LF smuggling", []string{"Subject: x\r\n\r\nhello\n.\r\nMAIL FROM:<evil@example.org>\r\n"}, "550 5.6.11", ReasonBareLF},
		{"bare CR", []string{"Subject: x\r\n\r\none\rtwo\r\n"}, "550 5.6.11", ReasonBareLF},
		{"CR at a chunk's end, no LF after it", []string{"Subject: x\r\n\r\nend\r", "X\r\n"}, "550 5.6.11", ReasonBareLF},
		// DATA loses these two bytes in go-smtp (dotcr_test.go); BDAT has
		// no dot-stuffing and refuses them.
		{"dot and bare CR at a line start", []string{"Subject: x\r\n\r\nbefore\r\n.\rX\r\n"}, "550 5.6.11", ReasonBareLF},
		{"over max_message_bytes", []string{strings.Repeat("a\r\n", 200), strings.Repeat("b\r\n", 200)}, "552 5.3.4", ""},
	}
	cfg := testConfig()
	cfg.MaxLineLength = 100
	cfg.MaxMessageBytes = 1000
	fq := &fakeQueue{}
	h := start(t, cfg, fq, configs.TLSNone)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialRaw(t, h.addr)
			c.must("EHLO client.example", "250")
			c.must("MAIL FROM:<a@example.org>", "250")
			c.must("RCPT TO:<b@example.com>", "250")
			var r string
			for i, chunk := range tt.chunks {
				if r = c.bdat(chunk, i == len(tt.chunks)-1); !strings.HasPrefix(r, "250 ") {
					break
				}
			}
			if !strings.HasPrefix(r, tt.want) {
				t.Errorf("reply %q, want %q", r, tt.want)
			}
			// The transaction is over; the session goes on.
			c.must("RCPT TO:<b@example.com>", "502 5.5.1")
			c.must("NOOP", "250")
		})
	}
	if n := len(fq.messages()); n != 0 {
		t.Errorf("%d messages enqueued", n)
	}
	for _, reason := range []string{ReasonBareLF} {
		want := 0
		for _, tt := range tests {
			if tt.reason == reason {
				want++
			}
		}
		if v := testutil.ToFloat64(h.m.MessagesRejected.WithLabelValues(reason)); v != float64(want) {
			t.Errorf("%s rejections %v, want %d", reason, v, want)
		}
	}
}

func TestBDAT_StoresChunksByteForByte(t *testing.T) {
	t.Parallel()
	q := openQueue(t, nil)
	h := start(t, testConfig(), q, configs.TLSNone)
	c := dialRaw(t, h.addr)
	c.must("EHLO client.example", "250")
	c.must("MAIL FROM:<a@example.org>", "250")
	c.must("RCPT TO:<b@example.com>", "250")
	// A line split over chunks, a CRLF split over chunks, and a line that
	// is just a dot: all fine in CHUNKING, which has no dot-stuffing.
	chunks := []string{"Subject: chunked\r\n\r\nfirst li", "ne\r", "\n.\r\nlast\r\n"}
	for i, ch := range chunks[:2] {
		if r := c.bdat(ch, false); !strings.HasPrefix(r, "250 ") {
			t.Fatalf("chunk %d: %q", i, r)
		}
	}
	id := queuedID(t, c.bdat(chunks[2], true))
	body, err := q.Body(id)
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Join(chunks, ""); !strings.HasSuffix(string(body), "\r\n"+want) {
		t.Errorf("stored %q, want it to end with %q", body, want)
	}
}

// go-smtp lifts its line limit while it copies a BDAT chunk, so the
// session's reader enforces max_line_length there. (When the chunk comes
// in the same packet as the BDAT command, go-smtp's own reader sees it
// while reading the command and closes with 500 5.4.0; the pause below
// keeps the two apart.)
func TestBDAT_LineLength(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.MaxLineLength = 100
	fq := &fakeQueue{}
	h := start(t, cfg, fq, configs.TLSNone)
	c := dialRaw(t, h.addr)
	c.must("EHLO client.example", "250")
	c.must("MAIL FROM:<a@example.org>", "250")
	c.must("RCPT TO:<b@example.com>", "250")
	chunk := "Subject: x\r\n\r\n" + strings.Repeat("z", 120) + "\r\n"
	c.write(fmt.Sprintf("BDAT %d LAST\r\n", len(chunk)))
	time.Sleep(100 * time.Millisecond)
	c.write(chunk)
	if r := c.reply(); !strings.HasPrefix(r, "500 5.5.2") {
		t.Errorf("reply %q, want 500 5.5.2", r)
	}
	c.must("NOOP", "250")
	if v := testutil.ToFloat64(h.m.MessagesRejected.WithLabelValues(ReasonLineTooLong)); v != 1 {
		t.Errorf("line_too_long rejections %v, want 1", v)
	}
	if n := len(fq.messages()); n != 0 {
		t.Errorf("%d messages enqueued", n)
	}
}
