package delivery

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"

	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/queue"
	"github.com/mxout/mxout/tlspolicy"
)

// tlsMode is how a session gets TLS.
type tlsMode int

const (
	tlsOff      tlsMode = iota // never
	tlsMay                     // STARTTLS when offered; plaintext retry after a failed handshake
	tlsMust                    // STARTTLS or no session
	tlsImplicit                // TLS from the first byte (smarthost port 465 style)
)

// tlsPolicy is what one session requires of TLS.
type tlsPolicy struct {
	mode tlsMode
	// verify checks the certificate against the host name; otherwise any
	// certificate is accepted (protection against passive eavesdropping only).
	verify bool
	// roots verifies the certificate; nil means the opener's.
	roots *x509.CertPool
	// kind is the DANE or MTA-STS policy whose check decides instead of
	// verify (tlspolicy.Kind), so that sessions checked under one are not
	// reused under another; "" for delivery.tls alone.
	kind string
}

// policyOf maps a delivery.tls value to a tlsPolicy.
func policyOf(p configs.TLSPolicy) tlsPolicy {
	switch p {
	case configs.TLSRequired:
		return tlsPolicy{mode: tlsMust, verify: true}
	case configs.TLSDisabled:
		return tlsPolicy{mode: tlsOff}
	default:
		return tlsPolicy{mode: tlsMay}
	}
}

// startTLS says EHLO in plaintext on conn, reading the replies with tp,
// and, if the server offers STARTTLS, runs the handshake on conn. It
// returns the TLS connection and its description, or a nil connection
// when the session goes on in plaintext.
func (o *sessionOpener) startTLS(ctx context.Context, conn net.Conn, tp *textproto.Reader, host string, p tlsPolicy, chk *tlsCheck) (*tls.Conn, string, error) {
	must := p.mode == tlsMust
	if _, err := fmt.Fprintf(conn, "EHLO %s\r\n", o.heloName); err != nil {
		return nil, "", err
	}
	ehlo, err := readReply(tp, 250)
	if errors.Is(err, errReplyTooLong) {
		return nil, "", err
	}
	if err != nil {
		if must {
			return nil, "", temporaryLocal("4.7.10", "TLS is required, but EHLO failed: %v", err)
		}
		return nil, "", nil // HELO-only server: go-smtp falls back to HELO
	}
	if !hasExtension(ehlo, "STARTTLS") {
		if chk.host != nil {
			return nil, "", chk.note(chk.host.NoSTARTTLS())
		}
		if must {
			return nil, "", temporaryLocal("4.7.10", "TLS is required, but %s does not offer STARTTLS", host)
		}
		return nil, "", nil
	}
	if _, err := io.WriteString(conn, "STARTTLS\r\n"); err != nil {
		return nil, "", err
	}
	if _, err := readReply(tp, 220); err != nil {
		if errors.Is(err, errReplyTooLong) {
			return nil, "", err
		}
		if chk.host != nil {
			if f := chk.host.NoSTARTTLS(); f != nil && f.Enforced {
				return nil, "", policyFailure(f)
			}
		}
		if must {
			return nil, "", temporaryLocal("4.7.10", "TLS is required, but STARTTLS was refused: %v", err)
		}
		return nil, "", fmt.Errorf("%w: STARTTLS refused: %v", errTLSHandshake, err)
	}
	tc := tls.Client(conn, o.tlsConfig(host, p, chk))
	if err := tc.HandshakeContext(ctx); err != nil {
		if must {
			return nil, "", handshakeError(host, err)
		}
		return nil, "", fmt.Errorf("%w: %v", errTLSHandshake, err)
	}
	return tc, describeTLS(tc), nil
}

// handshakeError is the 4.7.5 deferral of a failed handshake that the
// policy required. A certificate that does not verify is named as such,
// and stays in the error chain for the log line that says so.
func handshakeError(host string, err error) error {
	var f *tlspolicy.Failure
	if errors.As(err, &f) {
		// DANE or MTA-STS refused the certificate: say so, and which.
		return fmt.Errorf("%w: %w", errTLSHandshake, policyFailure(f))
	}
	msg := fmt.Sprintf("TLS is required, but the handshake with %s failed: %v", host, err)
	var cve *tls.CertificateVerificationError
	if errors.As(err, &cve) {
		msg = fmt.Sprintf("TLS is required, but the certificate of %s is not verified: %v", host, cve.Err)
	}
	return fmt.Errorf("%w: %w", errTLSHandshake, &localError{state: queue.Pending, status: "4.7.5", msg: msg, cause: err})
}

// tlsConfig verifies certificates only when the policy says so:
// opportunistic TLS protects against passive eavesdropping only, and
// refusing a self-signed certificate would just push the mail to plaintext.
// Under DANE or MTA-STS, the policy's check judges the handshake instead.
func (o *sessionOpener) tlsConfig(host string, p tlsPolicy, chk *tlsCheck) *tls.Config {
	if chk != nil && chk.host != nil {
		cfg := chk.host.TLSConfig()
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			f := chk.host.Check(cs)
			if f != nil && f.Enforced {
				return f
			}
			chk.noted = f
			return nil
		}
		return cfg
	}
	roots := o.rootCAs
	if p.roots != nil {
		roots = p.roots
	}
	return &tls.Config{
		ServerName:         host,
		InsecureSkipVerify: !p.verify,
		RootCAs:            roots,
		MinVersion:         tls.VersionTLS12,
	}
}

func describeTLS(tc *tls.Conn) string {
	st := tc.ConnectionState()
	return tls.VersionName(st.Version) + " " + tls.CipherSuiteName(st.CipherSuite)
}
