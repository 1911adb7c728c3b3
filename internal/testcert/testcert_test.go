package testcert

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"

	"github.com/mxout/mxout/internal/testnet"
)

// A pair written to disk loads as a key pair, and a client that trusts
// its pool completes a handshake with it by name and by address.
func TestPair_WriteLoadAndHandshake(t *testing.T) {
	t.Parallel()
	p, err := New("relay", "localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := p.Write(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatalf("load written pair: %v", err)
	}
	addr := testnet.Serve(t, func(c net.Conn) {
		s := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{loaded}})
		s.Handshake()
		s.Close()
	})
	for _, name := range []string{"localhost", "127.0.0.1"} {
		c, err := tls.DialWithDialer(&net.Dialer{}, "tcp", addr, &tls.Config{RootCAs: p.Pool(), ServerName: name})
		if err != nil {
			t.Errorf("handshake as %s: %v", name, err)
			continue
		}
		c.Close()
	}
	if _, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: p.Pool(), ServerName: "other.example"}); err == nil {
		t.Error("handshake for a name the certificate does not hold succeeded")
	}
}

// Issued certificates verify against the issuing CA through an
// intermediate, carry their chain, and IssueExpired's do not verify now.
func TestIssue_ChainsToTheCA(t *testing.T) {
	t.Parallel()
	root, err := New("test root")
	if err != nil {
		t.Fatal(err)
	}
	inter, err := root.IssueCA("test intermediate")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := inter.Issue("mx.example", "mx.example", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(leaf.TLS.Certificate); n != 3 {
		t.Fatalf("chain of %d certificates, want leaf, intermediate, root", n)
	}
	pool := x509.NewCertPool()
	pool.AddCert(inter.TLS.Leaf)
	opts := x509.VerifyOptions{Roots: root.Pool(), Intermediates: pool, DNSName: "mx.example"}
	if _, err := leaf.TLS.Leaf.Verify(opts); err != nil {
		t.Errorf("issued certificate does not verify: %v", err)
	}
	if leaf.TLS.Leaf.IsCA {
		t.Error("a server certificate is a CA")
	}
	if _, err := tls.X509KeyPair(leaf.CertPEM, leaf.KeyPEM); err != nil {
		t.Errorf("PEM pair: %v", err)
	}
	expired, err := inter.IssueExpired("old.example", "old.example")
	if err != nil {
		t.Fatal(err)
	}
	opts.DNSName = "old.example"
	if _, err := expired.TLS.Leaf.Verify(opts); err == nil {
		t.Error("an expired certificate verifies")
	}
	if _, err := leaf.Issue("x.example"); err == nil {
		t.Error("a server certificate issued another")
	}
}
