package submission

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mxout/mxout/metrics"
	"github.com/mxout/mxout/queue"
)

// acceptServer is a Server that no listener serves: only Accept is used.
func acceptServer(t *testing.T, change func(*Config)) (*Server, *fakeQueue, *metrics.Metrics) {
	t.Helper()
	cfg := testConfig()
	cfg.CheckHeaderFrom = true
	cfg.Logger = slog.New(slog.DiscardHandler)
	m := metrics.New(prometheus.NewRegistry())
	cfg.Metrics = m
	if change != nil {
		change(&cfg)
	}
	fq := &fakeQueue{}
	s, err := New(cfg, fq)
	if err != nil {
		t.Fatal(err)
	}
	return s, fq, m
}

func incoming(t *testing.T, from string, body string, patterns ...string) Incoming {
	t.Helper()
	sender, err := NewSender("billing", patterns)
	if err != nil {
		t.Fatal(err)
	}
	return Incoming{
		ID: queue.NewID(testNow()), Body: []byte(body), Sender: sender, Protocol: "HTTPS",
		IP:  netip.MustParseAddr("192.0.2.7"),
		Env: queue.Envelope{From: from, To: []queue.RecipientParams{{Addr: "b@example.net"}}, User: "billing", Client: "192.0.2.7", API: true},
	}
}

// A message from the API is stamped (Received with HTTPS, Message-ID and
// Date when missing) and signed as SMTP's are, and stored in the queue
// the caller gives.
func TestAccept_StampsSignsAndQueues(t *testing.T) {
	t.Parallel()
	s, fq, m := acceptServer(t, func(c *Config) { c.Signer = newDKIMSigner(t, "example.com") })
	in := incoming(t, "app@example.com", "From: App <app@example.com>\r\nSubject: x\r\n\r\nbody\r\n", "*@example.com")
	other := &fakeQueue{}
	in.Queue = other
	id, err := s.Accept(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if id != in.ID || len(fq.messages()) != 0 || len(other.messages()) != 1 {
		t.Fatalf("stored as %s: %d in the server's queue, %d in the given one", id, len(fq.messages()), len(other.messages()))
	}
	body := string(other.messages()[0].body)
	for _, want := range []string{"DKIM-Signature:", "Received: from api ([192.0.2.7])", "with HTTPS id " + string(id),
		"for <b@example.net>", "Message-ID: <" + string(id) + "@relay.example.net>", "\r\nDate: ", "From: App <app@example.com>\r\nSubject: x\r\n\r\nbody\r\n"} {
		if !strings.Contains(body, want) {
			t.Errorf("stored message lacks %q:\n%s", want, body)
		}
	}
	if v := testutil.ToFloat64(m.MessagesAccepted); v != 1 {
		t.Errorf("accepted %v", v)
	}
}

// Refusals are the replies SMTP would give, counted by reason.
func TestAccept_Refusals(t *testing.T) {
	t.Parallel()
	ok := "From: app@example.com\r\nSubject: x\r\n\r\nbody\r\n"
	tests := []struct {
		name, from, body string
		patterns         []string
		code             int
		reason           string
	}{
		{"envelope sender not allowed", "app@example.org", ok, []string{"*@example.com"}, 553, ReasonSenderDenied},
		{"header From not allowed", "app@example.com", "From: ceo@example.org\r\n\r\nx\r\n", []string{"*@example.com"}, 553, ReasonSenderDenied},
		{"no patterns: a key name is no address", "app@example.com", ok, nil, 553, ReasonSenderDenied},
		{"too big", "app@example.com", ok + strings.Repeat("x\r\n", 30000), []string{"*"}, 552, ReasonSize},
		{"bare LF", "app@example.com", "Subject: x\n\nbody\r\n", []string{"*"}, 550, ReasonBareLF},
		{"line too long", "app@example.com", "Subject: x\r\n\r\n" + strings.Repeat("x", 3000) + "\r\n", []string{"*"}, 500, ReasonLineTooLong},
		{"a loop", "app@example.com", strings.Repeat("Received: x\r\n", 51) + ok, []string{"*"}, 554, ReasonTooManyHops},
		{"bad envelope sender", "app", ok, []string{"*"}, 501, ReasonBadAddress},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, fq, m := acceptServer(t, nil)
			_, err := s.Accept(context.Background(), incoming(t, tt.from, tt.body, tt.patterns...))
			se, isReply := err.(*smtp.SMTPError)
			if !isReply || se.Code != tt.code {
				t.Fatalf("err = %v, want a %d reply", err, tt.code)
			}
			if n := len(fq.messages()); n != 0 {
				t.Errorf("%d messages queued", n)
			}
			if v := testutil.ToFloat64(m.MessagesRejected.WithLabelValues(tt.reason)); v != 1 {
				t.Errorf("rejections for %s: %v", tt.reason, v)
			}
		})
	}
}

// A queue that fails gives 452 4.3.1, as at DATA.
func TestAccept_StorageFailure(t *testing.T) {
	t.Parallel()
	s, _, _ := acceptServer(t, nil)
	in := incoming(t, "app@example.com", "Subject: x\r\n\r\nb\r\n", "*")
	in.Queue = &fakeQueue{err: queue.ErrNoSpace}
	_, err := s.Accept(context.Background(), in)
	if se, ok := err.(*smtp.SMTPError); !ok || se.Code != 452 || se.EnhancedCode != (smtp.EnhancedCode{4, 3, 1}) {
		t.Errorf("err = %v, want 452 4.3.1", err)
	}
}
