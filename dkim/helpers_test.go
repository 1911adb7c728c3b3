package dkim_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	msgauth "github.com/emersion/go-msgauth/dkim"

	"github.com/mxout/mxout/dkim"
	"github.com/mxout/mxout/resolver"
	"github.com/mxout/mxout/resolver/dnstest"
)

// Key files under testdata (made once with GenerateKey and openssl).
const (
	rsaFile     = "testdata/rsa2048.pem"
	rsaFileB    = "testdata/rsa2048-b.pem"
	edFile      = "testdata/ed25519.pem"
	edFileB     = "testdata/ed25519-b.pem"
	rsaPKCS1    = "testdata/rsa1024-pkcs1.pem"
	rsaTooSmall = "testdata/rsa512-pkcs1.pem"
	ecFile      = "testdata/ec-p256.pem"
	encrypted   = "testdata/ed25519-encrypted.pem"
)

// dnsWorld is an in-process DNS server and a resolver that asks it.
type dnsWorld struct {
	srv *dnstest.Server
	res *resolver.Resolver
}

func newDNS(t *testing.T) *dnsWorld {
	t.Helper()
	srv := dnstest.NewServer(t, nil)
	res, err := resolver.New(resolver.Config{Servers: []string{srv.Addr}, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return &dnsWorld{srv: srv, res: res}
}

// publish serves k's record at selector._domainkey.domain, split into
// 255-octet strings as `mxout dkim keygen` prints it.
func (w *dnsWorld) publish(t *testing.T, domain string, k *dkim.Key) {
	t.Helper()
	rec, err := dkim.NewRecord(k.Signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	w.publishValue(dkim.RecordName(k.Selector, domain), rec.String())
}

func (w *dnsWorld) publishValue(name, value string) {
	var quoted []string
	for _, s := range dkim.SplitTXT(value) {
		quoted = append(quoted, `"`+s+`"`)
	}
	w.srv.Set(name, dnstest.Record{Type: "TXT", Value: strings.Join(quoted, " ")})
}

func (w *dnsWorld) lookup(ctx context.Context, name string) ([]string, error) {
	return w.res.LookupTXT(ctx, name)
}

// verify runs go-msgauth's verifier on msg with keys from w.
func (w *dnsWorld) verify(t *testing.T, msg []byte) []*msgauth.Verification {
	t.Helper()
	vs, err := msgauth.VerifyWithOptions(bytes.NewReader(msg), &msgauth.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) { return w.res.LookupTXT(context.Background(), name) },
	})
	if err != nil {
		t.Fatalf("verify: %v\n%s", err, msg)
	}
	return vs
}

func loadKey(t *testing.T, file, selector string) *dkim.Key {
	t.Helper()
	k, err := dkim.LoadKey(dkim.KeyConfig{Selector: selector, PrivateKeyFile: file})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// defaultHeaders is configs/defaults.yaml's dkim.headers.
func defaultHeaders() []string {
	return []string{"From", "From", "To", "Cc", "Subject", "Date", "Message-ID", "Reply-To",
		"MIME-Version", "Content-Type", "In-Reply-To", "References", "List-Unsubscribe", "List-Unsubscribe-Post"}
}

func domainConfig(domain string, keys ...dkim.KeyConfig) dkim.DomainConfig {
	return dkim.DomainConfig{Domain: domain, Keys: keys, Headers: defaultHeaders()}
}

func newSigner(t *testing.T, cfg dkim.Config) *dkim.Signer {
	t.Helper()
	s, err := dkim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// txtRecord is a one-string TXT record for dnstest.
func txtRecord(s string) dnstest.Record { return dnstest.Record{Type: "TXT", Value: `"` + s + `"`} }
