package delivery

import (
	"crypto/x509"
	"testing"
	"time"

	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/internal/testwait"
	"github.com/mxout/mxout/queue"
)

// firstResult waits for the first result of id's recipient rcpt.
func (w *world) firstResult(id queue.ID, rcpt string) queue.Result {
	w.t.Helper()
	var first queue.Result
	if !testwait.Until(10*time.Second, func() bool {
		all := w.notes.all(id, rcpt)
		if len(all) > 0 {
			first = all[0]
		}
		return len(all) > 0
	}) {
		w.t.Fatalf("%s: no result", rcpt)
	}
	return first
}

func TestDeliver_PlaintextRetryAfterFailedHandshake(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	mx := w.mx("badtls.example", 10, smtptest.Options{BrokenTLS: true})
	w.start()
	id := w.enqueue("app@sender.example", "u@badtls.example")
	if r := w.waitFinal(id, 1, 10*time.Second)["u@badtls.example"]; r.State != queue.Delivered {
		t.Fatalf("final = %+v", r)
	}
	if n := len(w.notes.all(id, "u@badtls.example")); n != 1 {
		t.Errorf("the plaintext retry took %d attempts, want 1 (same attempt, same host)", n)
	}
	msgs := mx.Messages()
	if len(msgs) != 1 || msgs[0].TLS || mx.Handshakes() != 0 || mx.Connections() != 2 {
		t.Errorf("messages %+v, handshakes %d, connections %d; want one plaintext message after one failed handshake",
			msgs, mx.Handshakes(), mx.Connections())
	}
}

func TestDeliver_TLSPolicies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		global     configs.TLSPolicy
		perDomain  configs.TLSPolicy
		mx         smtptest.Options
		trust      bool // Config.RootCAs holds the MX's certificate
		wantState  queue.State
		wantStatus string
		wantTLS    bool
	}{
		{name: "opportunistic, self-signed", global: configs.TLSOpportunistic, mx: smtptest.Options{TLS: true},
			wantState: queue.Delivered, wantStatus: "2.0.0", wantTLS: true},
		{name: "opportunistic, no STARTTLS", global: configs.TLSOpportunistic, mx: smtptest.Options{},
			wantState: queue.Delivered, wantStatus: "2.0.0"},
		{name: "required, no STARTTLS", global: configs.TLSRequired, mx: smtptest.Options{},
			wantState: queue.Pending, wantStatus: "4.7.10"},
		{name: "required, unverifiable certificate", global: configs.TLSRequired, mx: smtptest.Options{TLS: true},
			wantState: queue.Pending, wantStatus: "4.7.5"},
		{name: "required, verified certificate", global: configs.TLSRequired, mx: smtptest.Options{TLS: true}, trust: true,
			wantState: queue.Delivered, wantStatus: "2.0.0", wantTLS: true},
		{name: "domain requires, global opportunistic", global: configs.TLSOpportunistic, perDomain: configs.TLSRequired, mx: smtptest.Options{},
			wantState: queue.Pending, wantStatus: "4.7.10"},
		{name: "domain disables, global required", global: configs.TLSRequired, perDomain: configs.TLSDisabled, mx: smtptest.Options{TLS: true},
			wantState: queue.Delivered, wantStatus: "2.0.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			mx := w.mx("policy.example", 10, tt.mx)
			w.cfg.TLS = tt.global
			if tt.perDomain != "" {
				w.cfg.Domains = map[string]configs.DomainPolicy{"policy.example": {TLS: tt.perDomain}}
			}
			if tt.trust {
				w.cfg.RootCAs = x509.NewCertPool()
				w.cfg.RootCAs.AppendCertsFromPEM(mx.CertPEM())
			}
			w.start()
			id := w.enqueue("app@sender.example", "u@policy.example")
			r := w.firstResult(id, "u@policy.example")
			if r.State != tt.wantState || r.Status != tt.wantStatus {
				t.Errorf("result = %+v, want %v %s", r, tt.wantState, tt.wantStatus)
			}
			msgs := mx.Messages()
			if tt.wantState == queue.Delivered && (len(msgs) != 1 || msgs[0].TLS != tt.wantTLS) {
				t.Errorf("messages = %+v, want one with TLS %v", msgs, tt.wantTLS)
			}
			if tt.wantState != queue.Delivered && len(msgs) != 0 {
				t.Errorf("delivered although the TLS policy forbids it: %+v", msgs)
			}
		})
	}
}
