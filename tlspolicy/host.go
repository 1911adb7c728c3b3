package tlspolicy

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/dane"
	"github.com/mxout/mxout/mtasts"
	"github.com/mxout/mxout/resolver"
	"github.com/mxout/mxout/tlsrpt"
)

// Failure is a session that did not meet its policy.
type Failure struct {
	// Result names the failure in TLS reports.
	Result tlsrpt.ResultType
	// Enforced failures end the delivery to this host (the mail is
	// deferred, or the next MX tried); the others are only counted and
	// logged (MTA-STS testing, unusable TLSA records).
	Enforced bool
	Err      error
}

func (f *Failure) Error() string { return f.Err.Error() }

// Unwrap returns the cause.
func (f *Failure) Unwrap() error { return f.Err }

// Host is the policy of a delivery to one MX host.
type Host struct {
	Kind   Kind
	MX     string // the MX host name, lowercase
	Domain string // the recipient domain: the policy domain
	// TLS is what the session does about STARTTLS. Under TLSMust, no
	// plaintext: a host without STARTTLS is a Failure (NoSTARTTLS).
	TLS TLSMode

	configured configs.TLSPolicy // under MTA-STS testing, what still applies
	tlsa       []resolver.TLSA
	sts        *mtasts.Policy
	roots      *x509.CertPool
	now        func() time.Time
}

// TLSConfig is the client configuration for the handshake with h: the
// MX host name as SNI (RFC 7672 §8.1 and RFC 8461 both ask for it), TLS
// 1.2 or later, and Go's own verification off, since Check decides.
func (h *Host) TLSConfig() *tls.Config {
	return &tls.Config{ServerName: h.MX, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} //nolint:gosec // Check verifies
}

// Admit says whether the host may be used at all. Under MTA-STS, the MX
// host must match one of the policy's mx patterns (RFC 8461 §4.1): an
// enforced policy refuses it, a testing one reports it.
func (h *Host) Admit() *Failure {
	if h.sts == nil || h.sts.Matches(h.MX) {
		return nil
	}
	return &Failure{Result: tlsrpt.ValidationFailure, Enforced: h.Kind == MTASTS,
		Err: fmt.Errorf("MTA-STS: MX host %s is not in the policy of %s (mx: %v)", h.MX, h.Domain, h.sts.MX)}
}

// NoSTARTTLS is the failure when the host does not offer STARTTLS or
// refuses it; nil where plaintext is fine.
func (h *Host) NoSTARTTLS() *Failure {
	var err error
	switch h.Kind {
	case DANE:
		err = fmt.Errorf("DANE: %s has TLSA records but does not offer STARTTLS", h.MX)
	case MTASTS, MTASTSTesting:
		err = fmt.Errorf("MTA-STS: %s does not offer STARTTLS (policy of %s)", h.MX, h.Domain)
	case Required:
		err = fmt.Errorf("TLS is required, but %s does not offer STARTTLS", h.MX)
	default:
		return nil
	}
	return &Failure{Result: tlsrpt.StartTLSNotSupported, Enforced: h.TLS == TLSMust, Err: err}
}

// Check judges the certificate the host presented, once the handshake is
// done. It returns nil when the policy is met.
func (h *Host) Check(cs tls.ConnectionState) *Failure {
	switch h.Kind {
	case DANE:
		return h.checkDANE(cs)
	case MTASTS:
		if err := h.webPKI(cs); err != nil {
			return &Failure{Result: certResult(err), Enforced: true, Err: fmt.Errorf("MTA-STS: %w", err)}
		}
	case MTASTSTesting:
		err := h.webPKI(cs)
		if err == nil {
			return nil
		}
		// Testing reports; a delivery.tls of required still enforces.
		return &Failure{Result: certResult(err), Enforced: h.configured == configs.TLSRequired, Err: fmt.Errorf("MTA-STS (testing): %w", err)}
	case Required:
		if err := h.webPKI(cs); err != nil {
			return &Failure{Result: certResult(err), Enforced: true, Err: fmt.Errorf("TLS is required: %w", err)}
		}
	}
	return nil
}

// checkDANE matches the chain against the TLSA records. Records that are
// all unusable still require TLS, but authenticate nothing (RFC 7672
// §3.1.3, Postfix's "encrypt"); that is reported, not enforced.
func (h *Host) checkDANE(cs tls.ConnectionState) *Failure {
	err := dane.Verify(h.tlsa, cs.PeerCertificates, []string{h.MX}, h.now())
	if err == nil {
		return nil
	}
	var de *dane.Error
	result, enforced := tlsrpt.ValidationFailure, true
	msg := err.Error()
	if errors.As(err, &de) {
		msg = de.Reason.String()
		if de.Detail != "" {
			msg += " (" + de.Detail + ")"
		}
		switch de.Reason {
		case dane.NoUsableRecords:
			result, enforced = tlsrpt.TLSAInvalid, false
		case dane.NoMatch:
			result = tlsrpt.CertificateNotTrusted
		case dane.NameMismatch:
			result = tlsrpt.CertificateHostMismatch
		case dane.Expired:
			result = tlsrpt.CertificateExpired
		}
	}
	return &Failure{Result: result, Enforced: enforced, Err: fmt.Errorf("DANE: certificate of %s: %s", h.MX, msg)}
}

// webPKI verifies the chain against the roots, for the MX host name.
func (h *Host) webPKI(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("no server certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
		DNSName: h.MX, Roots: h.roots, Intermediates: inter, CurrentTime: h.now(),
	})
	if err != nil {
		return fmt.Errorf("certificate of %s: %w", h.MX, err)
	}
	return nil
}

// certResult names a certificate error as TLS reports do.
func certResult(err error) tlsrpt.ResultType {
	var (
		host    x509.HostnameError
		inv     x509.CertificateInvalidError
		unknown x509.UnknownAuthorityError
	)
	switch {
	case errors.As(err, &host):
		return tlsrpt.CertificateHostMismatch
	case errors.As(err, &inv) && inv.Reason == x509.Expired:
		return tlsrpt.CertificateExpired
	case errors.As(err, &unknown), errors.As(err, &inv):
		return tlsrpt.CertificateNotTrusted
	}
	return tlsrpt.ValidationFailure
}

// Report is the policy as a TLS report names it.
func (h *Host) Report() tlsrpt.Policy {
	p := tlsrpt.Policy{Type: tlsrpt.PolicyNotFound, Domain: h.Domain}
	switch {
	case h.Kind == DANE:
		p.Type, p.MXHost = tlsrpt.PolicyTLSA, []string{h.MX}
		for _, r := range h.tlsa {
			p.Strings = append(p.Strings, r.String())
		}
	case h.sts != nil:
		p.Type, p.Strings, p.MXHost = tlsrpt.PolicySTS, h.sts.Lines(), h.sts.MX
	}
	return p
}

// TLSA returns the host's TLSA records under DANE.
func (h *Host) TLSA() []resolver.TLSA { return h.tlsa }

// STS returns the MTA-STS policy that applies to the host, or nil.
func (h *Host) STS() *mtasts.Policy { return h.sts }
