package submission

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// CertStore holds the listeners' certificate behind an atomic pointer:
// Reload swaps in a new one for the next TLS handshake, and connections
// already open keep theirs. A failed Reload keeps the old certificate.
type CertStore struct {
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]

	mu        sync.Mutex // serialises Reload and Changed
	attempted [2]os.FileInfo
}

// NewCertStore loads a PEM certificate chain and its private key.
func NewCertStore(certFile, keyFile string) (*CertStore, error) {
	c := &CertStore{certFile: certFile, keyFile: keyFile}
	if err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// Reload reads the files again and, if they hold a valid pair, serves it
// from the next handshake on.
func (c *CertStore) Reload() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.loadLocked(c.certFile, c.keyFile)
}

// LoadFiles is Reload from other files (a config that names new ones);
// on success the store watches these from now on.
func (c *CertStore) LoadFiles(certFile, keyFile string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.loadLocked(certFile, keyFile)
}

func (c *CertStore) loadLocked(certFile, keyFile string) error {
	c.attempted = stat(certFile, keyFile)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return fmt.Errorf("load certificate %s and key %s: %w", certFile, keyFile, err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return fmt.Errorf("parse certificate %s: %w", certFile, err)
		}
	}
	c.certFile, c.keyFile = certFile, keyFile
	c.cur.Store(&cert)
	return nil
}

// Changed reports whether either file differs (other inode, size or
// modification time) from when Reload last read them, successfully or
// not; so a broken file is retried only once it changes again.
func (c *CertStore) Changed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := stat(c.certFile, c.keyFile)
	for i := range now {
		a, b := c.attempted[i], now[i]
		if (a == nil) != (b == nil) {
			return true
		}
		if a != nil && (!os.SameFile(a, b) || a.Size() != b.Size() || !a.ModTime().Equal(b.ModTime())) {
			return true
		}
	}
	return false
}

func stat(certFile, keyFile string) [2]os.FileInfo {
	var out [2]os.FileInfo
	for i, f := range []string{certFile, keyFile} {
		out[i], _ = os.Stat(f) // a missing file is a change too
	}
	return out
}

// Leaf returns the certificate served now.
func (c *CertStore) Leaf() *x509.Certificate { return c.cur.Load().Leaf }

// NotAfter is when the certificate served now expires.
func (c *CertStore) NotAfter() time.Time { return c.Leaf().NotAfter }

// TLSConfig returns a server config that serves the store's current
// certificate: TLS 1.2 at least, Go's default cipher suites (ECDHE key
// exchange only).
func (c *CertStore) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			cert := c.cur.Load()
			if cert == nil {
				return nil, errors.New("no certificate loaded")
			}
			return cert, nil
		},
	}
}
