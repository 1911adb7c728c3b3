package delivery

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/textproto"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// TLS policies for outbound sessions.
const (
	TLSOpportunistic = "opportunistic"
	TLSRequired      = "required"
	TLSDisabled      = "disabled"
)

// session is an open SMTP client connection to one remote address.
type session struct {
	client    *smtp.Client
	remoteMTA string // MX host name, for logs and DSNs
	addr      string // ip:port
	tls       string // "" for plaintext, else "TLSv1.3 TLS_AES_128_GCM_SHA256"
	connected time.Time
}

// dialer opens network connections; net.Dialer satisfies it.
type dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// sessionOpener opens outbound sessions with the configured TLS policy.
type sessionOpener struct {
	dialer         dialer
	heloName       string
	connectTimeout time.Duration
	commandTimeout time.Duration
	dataTimeout    time.Duration
}

// errTLSHandshake marks a failed STARTTLS handshake, after which an
// opportunistic sender retries the same host in plaintext, as Postfix does.
var errTLSHandshake = errors.New("TLS handshake failed")

// open connects to addr:port, reads the greeting, says EHLO and, per
// policy, upgrades with STARTTLS. go-smtp's client offers STARTTLS only
// on a new connection and fails when the server lacks it, so the
// plaintext prologue is done here with net/textproto and the connection is
// then handed to go-smtp, which says EHLO again (over TLS if upgraded).
func (o *sessionOpener) open(ctx context.Context, mxHost string, addr netip.Addr, port int, policy string) (*session, error) {
	target := netip.AddrPortFrom(addr, uint16(port)).String()
	dctx, cancel := context.WithTimeout(ctx, o.connectTimeout)
	conn, err := o.dialer.DialContext(dctx, "tcp", target)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("connect to %s[%s]: %w", mxHost, target, err)
	}
	s := &session{remoteMTA: mxHost, addr: target, connected: time.Now()}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()

	conn.SetDeadline(time.Now().Add(o.commandTimeout))
	tp := textproto.NewReader(bufio.NewReader(conn))
	greeting, err := readReply(tp, 220)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("greeting from %s[%s]: %w", mxHost, target, err)
	}
	var upgraded net.Conn = conn
	if policy != TLSDisabled {
		upgraded, s.tls, err = o.startTLS(ctx, conn, tp, mxHost, policy)
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("%s[%s]: %w", mxHost, target, err)
		}
	}
	conn.SetDeadline(time.Time{})
	// go-smtp expects a greeting first; replay the one already read.
	c := smtp.NewClient(&replayConn{Conn: upgraded, pending: []byte("220 " + greeting + "\r\n")})
	c.CommandTimeout = o.commandTimeout
	c.SubmissionTimeout = o.dataTimeout
	if err := c.Hello(o.heloName); err != nil {
		c.Close()
		return nil, err
	}
	// go-smtp says EHLO lazily; NOOP forces it now, so that its errors
	// belong to the connection phase (try the next MX) and not to MAIL.
	if err := c.Noop(); err != nil {
		c.Close()
		return nil, fmt.Errorf("EHLO to %s[%s]: %w", mxHost, target, err)
	}
	s.client = c
	return s, nil
}

// startTLS says EHLO in plaintext and, if the server offers STARTTLS, runs
// the handshake. It returns the connection to continue on.
func (o *sessionOpener) startTLS(ctx context.Context, conn net.Conn, tp *textproto.Reader, mxHost, policy string) (net.Conn, string, error) {
	if _, err := fmt.Fprintf(conn, "EHLO %s\r\n", o.heloName); err != nil {
		return nil, "", err
	}
	ehlo, err := readReply(tp, 250)
	if err != nil {
		if policy == TLSRequired {
			return nil, "", temporaryLocal("4.7.10", "TLS is required, but EHLO failed: %v", err)
		}
		return conn, "", nil // HELO-only server: go-smtp falls back to HELO
	}
	if !hasExtension(ehlo, "STARTTLS") {
		if policy == TLSRequired {
			return nil, "", temporaryLocal("4.7.10", "TLS is required, but %s does not offer STARTTLS", mxHost)
		}
		return conn, "", nil
	}
	if _, err := io.WriteString(conn, "STARTTLS\r\n"); err != nil {
		return nil, "", err
	}
	if _, err := readReply(tp, 220); err != nil {
		if policy == TLSRequired {
			return nil, "", temporaryLocal("4.7.10", "TLS is required, but STARTTLS was refused: %v", err)
		}
		return nil, "", fmt.Errorf("%w: STARTTLS refused: %v", errTLSHandshake, err)
	}
	tc := tls.Client(conn, o.tlsConfig(mxHost, policy))
	if err := tc.HandshakeContext(ctx); err != nil {
		if policy == TLSRequired {
			return nil, "", temporaryLocal("4.7.5", "TLS is required, but the handshake with %s failed: %v", mxHost, err)
		}
		return nil, "", fmt.Errorf("%w: %v", errTLSHandshake, err)
	}
	st := tc.ConnectionState()
	return tc, tls.VersionName(st.Version) + " " + tls.CipherSuiteName(st.CipherSuite), nil
}

// tlsConfig verifies certificates only when TLS is required: opportunistic
// TLS protects against passive eavesdropping only, and refusing a
// self-signed certificate would just push the mail to plaintext.
func (o *sessionOpener) tlsConfig(mxHost, policy string) *tls.Config {
	return &tls.Config{
		ServerName:         mxHost,
		InsecureSkipVerify: policy != TLSRequired,
		MinVersion:         tls.VersionTLS12,
	}
}

// readReply reads one (possibly multi-line) reply and returns its text
// without the code, or an *smtp.SMTPError for another code.
func readReply(tp *textproto.Reader, want int) (string, error) {
	code, msg, err := tp.ReadResponse(want)
	if err != nil {
		var pe *textproto.Error
		if errors.As(err, &pe) {
			return "", &smtp.SMTPError{Code: code, EnhancedCode: smtp.NoEnhancedCode, Message: pe.Msg}
		}
		return "", err
	}
	return msg, nil
}

// hasExtension looks for an EHLO keyword in the reply text (first line is
// the greeting, the others are extensions).
func hasExtension(ehlo, name string) bool {
	lines := strings.Split(ehlo, "\n")
	for _, l := range lines[1:] {
		if f := strings.Fields(l); len(f) > 0 && strings.EqualFold(f[0], name) {
			return true
		}
	}
	return false
}

// replayConn returns pending bytes before reading from the connection.
type replayConn struct {
	net.Conn
	pending []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// tlsState describes the connection's TLS for logs; "none" in plaintext.
func (s *session) tlsState() string {
	if s.tls == "" {
		return "none"
	}
	return s.tls
}

// close ends the session politely, without waiting long for the reply.
func (s *session) close() {
	if s.client == nil {
		return
	}
	s.client.CommandTimeout = 5 * time.Second
	if err := s.client.Quit(); err != nil {
		s.client.Close()
	}
}
