package smtptest_test

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/internal/testcert"
)

// trust returns a client config that verifies s's certificate for name.
func trust(t *testing.T, s *smtptest.Server, name string) *tls.Config {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.CertPEM()) {
		t.Fatal("CertPEM is not a PEM certificate")
	}
	return &tls.Config{RootCAs: pool, ServerName: name}
}

func TestStartTLS(t *testing.T) {
	t.Parallel()
	s := smtptest.NewServer(t, smtptest.Options{TLS: true, Hostname: "mx.example.net"})
	for i, name := range []string{"localhost", s.Host(), "mx.example.net"} {
		c, err := smtp.DialStartTLS(s.Addr(), trust(t, s, name))
		if err != nil {
			t.Fatalf("STARTTLS verifying %q: %v", name, err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := send(c, "a@example.org", []string{"b@example.net"}); err != nil {
			t.Fatal(err)
		}
		if m := s.WaitMessages(t, i+1, 5*time.Second)[i]; !m.TLS {
			t.Errorf("%s: message not marked TLS", name)
		}
	}
	if s.Handshakes() != 3 {
		t.Errorf("handshakes %d, want 3", s.Handshakes())
	}

	// A client that does not trust the certificate is not a handshake.
	c, err := smtp.DialStartTLS(s.Addr(), &tls.Config{ServerName: "localhost"})
	if err == nil {
		defer c.Close()
		err = c.Hello("client.example.org") // the handshake is lazy
	}
	if err == nil {
		t.Fatal("untrusted certificate accepted")
	}
	if s.Handshakes() != 3 {
		t.Errorf("failed handshake counted: %d", s.Handshakes())
	}
}

func TestBrokenTLS(t *testing.T) {
	t.Parallel()
	s := smtptest.NewServer(t, smtptest.Options{BrokenTLS: true})
	c, err := smtp.DialStartTLS(s.Addr(), &tls.Config{InsecureSkipVerify: true})
	if err == nil {
		defer c.Close()
		err = c.Hello("client.example.org") // the handshake is lazy
	}
	if err == nil {
		t.Fatal("handshake with a BrokenTLS server succeeded")
	}
	// Plaintext still works, STARTTLS still offered.
	c, err = smtp.Dial(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.example.org"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		t.Error("BrokenTLS server does not offer STARTTLS")
	}
	if s.Handshakes() != 0 {
		t.Errorf("handshakes = %d, want 0", s.Handshakes())
	}
}

func TestImplicitTLS(t *testing.T) {
	t.Parallel()
	s := smtptest.NewServer(t, smtptest.Options{Implicit: true})
	c, err := smtp.DialTLS(s.Addr(), trust(t, s, "localhost"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Error("implicit TLS server offers STARTTLS")
	}
	if _, err := send(c, "a@example.org", []string{"b@example.net"}); err != nil {
		t.Fatal(err)
	}
	if m := s.WaitMessages(t, 1, 5*time.Second)[0]; !m.TLS || s.Handshakes() != 1 {
		t.Errorf("TLS %v, handshakes %d", m.TLS, s.Handshakes())
	}
}

func TestImplicitTLSGreetingReject(t *testing.T) {
	t.Parallel()
	s := smtptest.NewServer(t, smtptest.Options{Implicit: true})
	s.SetGreeting(&smtptest.Reply{Code: 554, Message: "no service"})
	c, err := smtp.DialTLS(s.Addr(), trust(t, s, "localhost"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	wantCode(t, c.Hello("client.example.org"), 554, smtp.EnhancedCodeNotSet) // none in a greeting
}

func TestAuth(t *testing.T) {
	t.Parallel()
	s := smtptest.NewServer(t, smtptest.Options{AuthUser: "relay", AuthPassword: "s3cret"})

	c := dial(t, s.Addr())
	wantCode(t, c.Mail("a@example.org", nil), 530, smtp.EnhancedCode{5, 7, 0})
	wantCode(t, c.Auth(sasl.NewPlainClient("", "relay", "wrong")), 535, smtp.EnhancedCode{5, 7, 8})

	clients := map[string]sasl.Client{
		"PLAIN": sasl.NewPlainClient("", "relay", "s3cret"),
		"LOGIN": sasl.NewLoginClient("relay", "s3cret"),
	}
	for mech, a := range clients {
		c := dial(t, s.Addr())
		if !c.SupportsAuth(mech) {
			t.Fatalf("%s not offered", mech)
		}
		if err := c.Auth(a); err != nil {
			t.Fatalf("AUTH %s: %v", mech, err)
		}
		if _, err := send(c, "a@example.org", []string{"b@example.net"}); err != nil {
			t.Fatalf("%s: %v", mech, err)
		}
	}
	for _, m := range s.WaitMessages(t, 2, 5*time.Second) {
		if m.AuthUser != "relay" {
			t.Errorf("AuthUser %q", m.AuthUser)
		}
	}
}

// A server given a certificate presents it, chain included.
func TestGivenCertificate(t *testing.T) {
	t.Parallel()
	ca, err := testcert.New("smtptest CA")
	if err != nil {
		t.Fatal(err)
	}
	cert := ca.IssueHost(t, "mx.issued.example")
	s := smtptest.NewServer(t, smtptest.Options{Certificate: &cert.TLS})
	c, err := smtp.DialStartTLS(s.Addr(), &tls.Config{RootCAs: ca.Pool(), ServerName: "mx.issued.example"})
	if err != nil {
		t.Fatalf("STARTTLS verifying with the CA: %v", err)
	}
	defer c.Close()
	if _, err := send(c, "a@example.org", []string{"b@issued.example"}); err != nil {
		t.Fatal(err)
	}
	if m := s.WaitMessages(t, 1, 5*time.Second)[0]; !m.TLS {
		t.Error("message not marked TLS")
	}
	if string(s.CertPEM()) != string(cert.CertPEM) {
		t.Error("CertPEM is not the given chain")
	}
}
