package submission

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mxout/mxout/configs"
)

// fakeSigner prepends a marker field, or fails with err.
type fakeSigner struct {
	err error

	mu      sync.Mutex
	from    []string
	stamped []string // the messages as they reached Sign
}

func (f *fakeSigner) Sign(msg []byte, envelopeFrom string) ([]byte, error) {
	f.mu.Lock()
	f.from = append(f.from, envelopeFrom)
	f.stamped = append(f.stamped, string(msg))
	f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	return append([]byte("DKIM-Signature: fake\r\n"), msg...), nil
}

// permanentErr is what package dkim returns when signing is required and
// the domain has no key.
type permanentErr struct{}

func (permanentErr) Error() string   { return "dkim: no key for nokey.example, and signing is required" }
func (permanentErr) Permanent() bool { return true }

func TestData_SignedAfterStampingBeforeQueueing(t *testing.T) {
	t.Parallel()
	q := &fakeQueue{}
	signer := &fakeSigner{}
	cfg := testConfig()
	cfg.Signer = signer
	h := start(t, cfg, q, configs.ListenerTLSNone)
	c := dialRaw(t, h.addr)
	c.must("EHLO client.example", "250")
	r := c.send("app@sender.example", []string{"b@example.com"}, dotEnd(message("From: app@sender.example", "Subject: x", "", "body")))
	if !strings.HasPrefix(r, "250 2.0.0 Ok: queued as ") {
		t.Fatalf("reply %q", r)
	}
	msgs := q.messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages queued", len(msgs))
	}
	body := string(msgs[0].body)
	if !strings.HasPrefix(body, "DKIM-Signature: fake\r\nReceived: ") {
		t.Errorf("the queued message is not the signed one:\n%s", body)
	}
	if len(signer.stamped) != 1 || !strings.HasPrefix(signer.stamped[0], "Received: ") ||
		!strings.Contains(signer.stamped[0], "\r\nMessage-ID: ") || signer.from[0] != "app@sender.example" {
		t.Errorf("Sign got %q from %q; want the stamped message and the envelope sender", signer.stamped, signer.from)
	}
}

func TestData_SigningErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, want, reason string
		err                error
	}{
		{name: "required, no key", err: permanentErr{}, reason: ReasonNoDKIMKey,
			want: "550 5.7.1 No DKIM key for the sender domain, and this relay signs all mail"},
		{name: "wrapped permanent", err: errors.Join(errors.New("context"), permanentErr{}), reason: ReasonNoDKIMKey,
			want: "550 5.7.1 No DKIM key for the sender domain, and this relay signs all mail"},
		{name: "signing failure is ours and temporary", err: errors.New("dkim: sign for sender.example: rsa: internal error"),
			reason: ReasonLocalError, want: "451 4.3.0 Local error in processing, try again later"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := &fakeQueue{}
			cfg := testConfig()
			cfg.Signer = &fakeSigner{err: tt.err}
			h := start(t, cfg, q, configs.ListenerTLSNone)
			c := dialRaw(t, h.addr)
			c.must("EHLO client.example", "250")
			if r := c.send("app@nokey.example", []string{"b@example.com"}, dotEnd(message("Subject: x", "", "body"))); r != tt.want {
				t.Errorf("reply %q, want %q", r, tt.want)
			}
			c.must("NOOP", "250")
			if n := len(q.messages()); n != 0 {
				t.Errorf("%d messages queued", n)
			}
			if v := testutil.ToFloat64(h.m.MessagesRejected.WithLabelValues(tt.reason)); v != 1 {
				t.Errorf("%s rejections = %v, want 1", tt.reason, v)
			}
			if !strings.Contains(h.logs.String(), "queue_id=") || !strings.Contains(h.logs.String(), "dkim") {
				t.Errorf("no log line with the queue ID:\n%s", h.logs)
			}
		})
	}
}
