package bounce

import (
	"context"
	"strings"
	"testing"

	"github.com/mxout/mxout/dkim"
	"github.com/mxout/mxout/queue"
)

func TestNotify_SignsWithTheHostnameKey(t *testing.T) {
	t.Parallel()
	signer, err := dkim.New(dkim.Config{Domains: []dkim.DomainConfig{{
		Domain:  "relay.example.org",
		Keys:    []dkim.KeyConfig{{Selector: "s1", PrivateKeyFile: "../dkim/testdata/ed25519.pem"}},
		Headers: []string{"From", "To", "Subject", "Date", "Message-ID"},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	s := newSetup(t, func(c *Config) { c.Signer = signer })
	if _, err := s.n.Notify(context.Background(), round("app@sender.example", "", false, rcpt{addr: "a@dest.example", state: queue.Failed})); err != nil {
		t.Fatal(err)
	}
	if len(s.q.sent) != 1 {
		t.Fatalf("%d reports queued, want 1", len(s.q.sent))
	}
	report := s.q.sent[0].body
	if !strings.HasPrefix(report, "DKIM-Signature:") || !strings.Contains(report, "d=relay.example.org;") {
		t.Errorf("report not signed with the hostname's key:\n%.400s", report)
	}
}
