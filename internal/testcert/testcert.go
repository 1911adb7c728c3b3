// Package testcert makes certificates for the tests and tools that run TLS
// on loopback: a sink MX, a relay's submission listener, a client that
// must trust them. New's pairs are self-signed CAs; Issue makes
// certificates signed by one (policy hosts, DANE-TA chains).
package testcert

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Pair is a certificate and its private key. The certificate is its own
// CA, like httptest's, so a client trusts it through Pool.
type Pair struct {
	// TLS is the pair for a tls.Config, with its parsed Leaf.
	TLS tls.Certificate
	// CertPEM and KeyPEM are the PEM files' contents (the key in PKCS #8).
	CertPEM, KeyPEM []byte
}

// New makes an ECDSA P-256 pair named commonName, valid from an hour ago
// for a day, for hosts: IP addresses, or DNS names otherwise. It is its
// own CA, and can Issue others.
func New(commonName string, hosts ...string) (*Pair, error) {
	now := time.Now()
	return create(spec{commonName: commonName, hosts: hosts, ca: true, notBefore: now.Add(-time.Hour), notAfter: now.Add(24 * time.Hour)}, nil)
}

// Pool is a certificate pool that trusts the pair.
func (p *Pair) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.TLS.Leaf)
	return pool
}

// Write writes dir/cert.pem and dir/key.pem (mode 0600), each through a
// temporary file and a rename, as certificate tools replace them, and
// returns their paths.
func (p *Pair) Write(dir string) (certFile, keyFile string, err error) {
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for path, data := range map[string][]byte{certFile: p.CertPEM, keyFile: p.KeyPEM} {
		if err := os.WriteFile(path+".tmp", data, 0o600); err != nil {
			return "", "", fmt.Errorf("write %s: %w", path, err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			return "", "", fmt.Errorf("replace %s: %w", path, err)
		}
	}
	return certFile, keyFile, nil
}

// WriteNew makes a pair as New does and writes it into dir as Write
// does, failing the test on an error; it returns the files' paths.
func WriteNew(t testing.TB, dir, commonName string, hosts ...string) (certFile, keyFile string) {
	t.Helper()
	p, err := New(commonName, hosts...)
	if err == nil {
		certFile, keyFile, err = p.Write(dir)
	}
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
