package submission

import (
	"crypto/rand"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/dkim"
)

// fakeSigner prepends a marker field, or fails with err.
type fakeSigner struct {
	err error

	mu      sync.Mutex
	from    []string
	stamped []string // the messages as they reached Sign
}

func (f *fakeSigner) Signatures(msg []byte, envelopeFrom string, _ func(string) bool) (dkim.Signature, error) {
	f.mu.Lock()
	f.from = append(f.from, envelopeFrom)
	f.stamped = append(f.stamped, string(msg))
	f.mu.Unlock()
	if f.err != nil {
		return dkim.Signature{}, f.err
	}
	return dkim.Signature{Fields: []byte("DKIM-Signature: fake\r\n")}, nil
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
	h := start(t, cfg, q, configs.TLSNone)
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
			h := start(t, cfg, q, configs.TLSNone)
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

// newDKIMSigner is a real signer with a fresh Ed25519 key for each domain.
func newDKIMSigner(t *testing.T, domains ...string) *dkim.Signer {
	t.Helper()
	var cfg dkim.Config
	for _, d := range domains {
		key, err := dkim.GenerateKey(dkim.AlgorithmEd25519, 0, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pem, err := dkim.MarshalPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(t.TempDir(), d+".pem")
		if err := os.WriteFile(file, pem, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg.Domains = append(cfg.Domains, dkim.DomainConfig{
			Domain: d, Keys: []dkim.KeyConfig{{Selector: "s1", PrivateKeyFile: file}}, Headers: []string{"From", "Subject"},
		})
	}
	s, err := dkim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// An authenticated user never gets a DKIM signature for a domain that its
// allowed senders do not cover, even with check_header_from off: such
// mail is refused with 553 5.7.1. A trusted client that has not
// authenticated is signed for as before.
func TestData_DKIMSignsOnlyDomainsTheUserMayUse(t *testing.T) {
	t.Parallel()
	const denied = "553 5.7.1 Sender domain not allowed for this user, the message is not signed for it"
	tests := []struct {
		name       string
		trusted    bool
		checkFrom  bool
		from, head string // MAIL FROM and the From: field ("" for none)
		want       string
		wantD      string // the signature's domain; "" for unsigned
	}{
		{name: "From at a domain the user may not use", from: "a@example.org", head: "CEO <ceo@example.com>", want: denied},
		{name: "folded From at another domain", from: "a@example.org", head: "CEO\r\n <ceo@Example.COM>", want: denied},
		{name: "From at an allowed domain", from: "a@example.org", head: "x@example.org", want: "250 2.0.0", wantD: "example.org"},
		{name: "a single allowed address covers its domain", from: "a@example.org", head: "y@example.net", want: "250 2.0.0", wantD: "example.net"},
		{name: "no From: the envelope sender's domain", from: "a@example.org", want: "250 2.0.0", wantD: "example.org"},
		{name: "a domain without a key goes out unsigned", from: "a@example.org", head: "z@nokey.example", want: "250 2.0.0"},
		{name: "check_header_from refuses first", checkFrom: true, from: "a@example.org", head: "ceo@example.com",
			want: "553 5.7.1 From header not allowed for this user"},
		{name: "trusted without AUTH: signed as before", trusted: true, from: "a@example.org", head: "ceo@example.com",
			want: "250 2.0.0", wantD: "example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := authConfig(t)
			cfg.CheckHeaderFrom = tt.checkFrom
			cfg.TrustedNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}
			cfg.Signer = newDKIMSigner(t, "example.org", "example.net", "example.com")
			fq := &fakeQueue{}
			h := start(t, cfg, fq, configs.TLSImplicit)
			var c *rawConn
			if tt.trusted {
				c = dialTLSRaw(t, h, "127.0.0.2")
			} else {
				c = dialTLSRaw(t, h, "127.0.0.1")
				c.must(authPlain("app", "s3cret"), "235")
			}
			lines := []string{"Subject: x", "", "body"}
			if tt.head != "" {
				lines = append([]string{"From: " + tt.head}, lines...)
			}
			if r := c.send(tt.from, []string{"b@example.com"}, dotEnd(message(lines...))); !strings.HasPrefix(r, tt.want) {
				t.Fatalf("reply %q, want %q", r, tt.want)
			}
			msgs := fq.messages()
			if !strings.HasPrefix(tt.want, "250") {
				if len(msgs) != 0 {
					t.Errorf("%d messages queued", len(msgs))
				}
				if v := testutil.ToFloat64(h.m.MessagesRejected.WithLabelValues(ReasonSenderDenied)); v != 1 {
					t.Errorf("sender_denied rejections %v, want 1", v)
				}
				return
			}
			if len(msgs) != 1 {
				t.Fatalf("%d messages queued", len(msgs))
			}
			body := string(msgs[0].body)
			switch signed := strings.HasPrefix(body, "DKIM-Signature:"); {
			case tt.wantD == "" && signed:
				t.Errorf("signed, want unsigned:\n%s", body)
			case tt.wantD != "" && !strings.Contains(body, " d="+tt.wantD+";"):
				t.Errorf("want a signature with d=%s:\n%s", tt.wantD, body)
			}
		})
	}
}
