package testcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"testing"
	"time"
)

// Issue makes a certificate for hosts signed by p, which must be a CA (as
// New's pairs are): a server certificate valid from an hour ago for a
// day. Its TLS chain is the certificate, then p's and p's own chain, as a
// server sends it.
func (p *Pair) Issue(commonName string, hosts ...string) (*Pair, error) {
	now := time.Now()
	return p.issue(commonName, false, now.Add(-time.Hour), now.Add(24*time.Hour), hosts)
}

// IssueHost is Issue for one host, its common name and DNS name, failing
// the test on an error.
func (p *Pair) IssueHost(t testing.TB, host string) *Pair {
	t.Helper()
	c, err := p.Issue(host, host)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// IssueExpired is Issue with a certificate that expired an hour ago.
func (p *Pair) IssueExpired(commonName string, hosts ...string) (*Pair, error) {
	now := time.Now()
	return p.issue(commonName, false, now.Add(-48*time.Hour), now.Add(-time.Hour), hosts)
}

// IssueCA makes an intermediate CA signed by p.
func (p *Pair) IssueCA(commonName string) (*Pair, error) {
	now := time.Now()
	return p.issue(commonName, true, now.Add(-time.Hour), now.Add(24*time.Hour), nil)
}

func (p *Pair) issue(commonName string, isCA bool, notBefore, notAfter time.Time, hosts []string) (*Pair, error) {
	if p.TLS.Leaf == nil || !p.TLS.Leaf.IsCA {
		return nil, fmt.Errorf("issue %s: the issuer is not a CA", commonName)
	}
	return create(spec{commonName: commonName, hosts: hosts, ca: isCA, notBefore: notBefore, notAfter: notAfter}, p)
}

// spec is what a certificate says.
type spec struct {
	commonName          string
	hosts               []string // IP addresses, or DNS names otherwise
	ca                  bool
	notBefore, notAfter time.Time
}

// create makes an ECDSA P-256 pair for s, signed by parent, or by itself
// when parent is nil. Its TLS chain is the certificate, then parent's.
func create(s spec, parent *Pair) (*Pair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("generate serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: s.commonName, Organization: []string{"mxout test"}},
		NotBefore:             s.notBefore,
		NotAfter:              s.notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  s.ca,
	}
	if s.ca {
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	for _, h := range s.hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	signer, signerKey, chain := tmpl, any(key), [][]byte(nil)
	if parent != nil {
		signer, signerKey, chain = parent.TLS.Leaf, parent.TLS.PrivateKey, parent.TLS.Certificate
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		return nil, fmt.Errorf("create certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshal key: %w", err)
	}
	chain = append([][]byte{der}, chain...)
	var certPEM []byte
	for _, c := range chain {
		certPEM = append(certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c})...)
	}
	return &Pair{
		TLS:     tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: leaf},
		CertPEM: certPEM,
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
	}, nil
}
