package delivery

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/textproto"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/tlspolicy"
)

// credentials are the AUTH user and password for a smarthost.
type credentials struct{ user, password string }

// session is an open SMTP client connection to one remote address.
type session struct {
	client    *smtp.Client
	rc        *replayConn // the connection under client, for deadlines and RSET
	remoteMTA string      // MX host name, for logs and DSNs
	addr      string      // ip:port
	tls       string      // "" for plaintext, else "TLSv1.3 TLS_AES_128_GCM_SHA256"
	local     string      // our address on the connection, for TLS reports
	// noted is a failure of the session's TLS policy that did not stop it
	// (MTA-STS testing, unusable TLSA records), for metrics and reports.
	noted  *tlspolicy.Failure
	policy string // the TLS policy it was opened under, for logs
	key    connKey
	// uses counts the transactions started on this session.
	uses int
	// reused is set while a cached session serves a new transaction.
	reused bool
	// onClose is called once when the connection is closed.
	onClose func()

	// Owned by the pool (under pool.mu) while the session is idle.
	owner string
	idle  bool
	timer *time.Timer
}

// dialer opens network connections; net.Dialer satisfies it.
type dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// sessionOpener opens outbound sessions.
type sessionOpener struct {
	dialer   dialer
	heloName string
	t        configs.DeliveryTimeouts
	rootCAs  *x509.CertPool // nil: the system's roots
	// onReplyTooLong, if set, is called when a server breaks a reply limit.
	onReplyTooLong func()
}

// errTLSHandshake marks a failed TLS handshake, after which an
// opportunistic sender retries the same host in plaintext, as Postfix does;
// under a policy that requires TLS it wraps the 4.7.5 deferral.
var errTLSHandshake = errors.New("TLS handshake failed")

// open connects to addr, reads the greeting, says EHLO and, per policy,
// upgrades with STARTTLS (or starts with TLS), then authenticates when
// cred is set, which it refuses to do without TLS. go-smtp's client
// offers STARTTLS only on a new connection and fails when the server
// lacks it, so the plaintext prologue is done here with net/textproto
// and the connection is then handed to go-smtp, which says EHLO again
// (over TLS if upgraded).
//
// check, when not nil, is the DANE or MTA-STS policy that judges the TLS
// session instead of p.verify: an enforced failure ends the session, one
// that is only reported is noted on it.
func (o *sessionOpener) open(ctx context.Context, host string, addr netip.AddrPort, p tlsPolicy, check *tlspolicy.Host, cred *credentials) (*session, error) {
	target := addr.String()
	dctx, cancel := context.WithTimeout(ctx, o.t.Connect)
	conn, err := o.dialer.DialContext(dctx, "tcp", target)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("connect to %s[%s]: %w", host, target, err)
	}
	// go-smtp sets its own deadlines, so cancelling must close the socket.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	s, err := o.handshake(ctx, conn, host, target, p, &tlsCheck{host: check}, cred)
	local := localIP(conn)
	if err != nil {
		conn.Close()
		return nil, &openError{local: local, err: err}
	}
	s.local = local
	return s, nil
}

// handshake reads the greeting, upgrades to TLS as p says, greets with
// EHLO through go-smtp and authenticates. Every reply, in the plaintext
// prologue and on the connection go-smtp reads, passes a replyLimiter
// (reply.go); after STARTTLS a new one follows the TLS layer.
func (o *sessionOpener) handshake(ctx context.Context, conn net.Conn, host, target string, p tlsPolicy, chk *tlsCheck, cred *credentials) (*session, error) {
	s := &session{remoteMTA: host, addr: target}
	var c net.Conn = conn
	if p.mode == tlsImplicit {
		conn.SetDeadline(time.Now().Add(o.t.Helo))
		tc := tls.Client(conn, o.tlsConfig(host, p, chk))
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, handshakeError(host+"["+target+"]", err)
		}
		c, s.tls = tc, describeTLS(tc)
	}
	raw := c // what TLS runs on: the TLS layer is not made of replies
	lc := newLimitedConn(raw, o.onReplyTooLong)
	lc.SetDeadline(time.Now().Add(o.t.Greeting))
	tp := textproto.NewReader(bufio.NewReader(lc))
	greeting, err := readReply(tp, 220)
	if err != nil {
		return nil, fmt.Errorf("greeting from %s[%s]: %w", host, target, err)
	}
	if p.mode == tlsMay || p.mode == tlsMust {
		lc.SetDeadline(time.Now().Add(o.t.Helo))
		tc, version, err := o.startTLS(ctx, raw, tp, host, p, chk)
		if err != nil {
			return nil, fmt.Errorf("%s[%s]: %w", host, target, err)
		}
		if tc != nil {
			lc, s.tls = newLimitedConn(tc, o.onReplyTooLong), version
		}
	}
	lc.SetDeadline(time.Time{})
	// go-smtp expects a greeting first; replay the first line of the one
	// already read (go-smtp ignores its text).
	first, _, _ := strings.Cut(greeting, "\n")
	if len(first) > 512 {
		first = first[:512]
	}
	s.rc = &replayConn{Conn: lc, pending: []byte("220 " + first + "\r\n")}
	cl := smtp.NewClient(s.rc)
	cl.CommandTimeout = o.t.Helo
	if err := cl.Hello(o.heloName); err != nil {
		return nil, fmt.Errorf("EHLO to %s[%s]: %w", host, target, err)
	}
	if cred != nil {
		if s.tls == "" {
			// Whatever the caller asked: a password never goes in the clear.
			return nil, temporaryLocal("4.7.10", "credentials for %s are only sent over TLS, and this session has none", host)
		}
		if err := authenticate(cl, cred, host); err != nil {
			return nil, err
		}
	}
	s.client = cl
	s.noted = chk.noted
	return s, nil
}

// authenticate logs in with PLAIN, or LOGIN when PLAIN is not offered. A
// refusal is temporary, as with Postfix's smtp_sasl_auth_soft_bounce: bad
// credentials are the relay's problem, not a reason to bounce mail.
func authenticate(c *smtp.Client, cred *credentials, host string) error {
	var a sasl.Client
	switch {
	case c.SupportsAuth(sasl.Plain):
		a = sasl.NewPlainClient("", cred.user, cred.password)
	case c.SupportsAuth(sasl.Login):
		a = sasl.NewLoginClient(cred.user, cred.password)
	default:
		return temporaryLocal("4.7.4", "%s offers neither AUTH PLAIN nor AUTH LOGIN", host)
	}
	if err := c.Auth(a); err != nil {
		return temporaryLocal("4.7.8", "AUTH as %q at %s failed: %v", cred.user, host, err)
	}
	return nil
}

// readReply reads one (possibly multi-line) reply and returns its text
// without the code, or an *smtp.SMTPError for another code.
func readReply(tp *textproto.Reader, want int) (string, error) {
	code, msg, err := tp.ReadResponse(want)
	if err != nil {
		return "", replyError(code, err)
	}
	return msg, nil
}

// replyError turns textproto's error about a reply of an unexpected code
// into an *smtp.SMTPError; other errors stay as they are.
func replyError(code int, err error) error {
	var pe *textproto.Error
	if errors.As(err, &pe) {
		return &smtp.SMTPError{Code: code, EnhancedCode: smtp.NoEnhancedCode, Message: pe.Msg}
	}
	return err
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

// reset sends RSET and reads its reply. It goes around go-smtp's client,
// whose Reset forgets the EHLO and would say it again before the next
// MAIL (one more round trip, and some servers drop AUTH on EHLO).
func (s *session) reset(timeout time.Duration) error {
	_, err := s.command(rsetCommand, 250, timeout)
	return err
}

// command writes line, a command with its CRLF, around go-smtp's client
// and reads its reply as await does, each within timeout.
func (s *session) command(line string, want int, timeout time.Duration) (int, error) {
	conn := s.rc.Conn
	conn.SetWriteDeadline(time.Now().Add(timeout))
	_, err := io.WriteString(conn, line)
	conn.SetWriteDeadline(time.Time{})
	if err != nil {
		return 0, err
	}
	return s.await(want, timeout)
}

// mx names the server as delivery events show it: host[ip].
func (s *session) mx() string {
	ip := s.addr
	if ap, err := netip.ParseAddrPort(s.addr); err == nil {
		ip = ap.Addr().String()
	}
	return s.remoteMTA + "[" + ip + "]"
}

// await reads the next reply around go-smtp's client and returns its
// code; want, unless 0, is the code expected, and another one is an
// *smtp.SMTPError. go-smtp has nothing buffered between its commands: the
// replyLimiter under both hands out one line per read, so neither reader
// takes more than the reply it parses.
func (s *session) await(want int, timeout time.Duration) (int, error) {
	s.rc.SetReadDeadline(time.Now().Add(timeout))
	defer s.rc.SetReadDeadline(time.Time{})
	code, _, err := textproto.NewReader(bufio.NewReader(s.rc)).ReadResponse(want)
	return code, replyError(code, err)
}

// close ends the session politely, waiting at most timeout for the reply.
func (s *session) close(timeout time.Duration) {
	if s.client == nil {
		return
	}
	s.client.CommandTimeout = timeout
	if err := s.client.Quit(); err != nil {
		s.client.Close()
	}
	s.closed()
}

// abort drops the connection without QUIT (it is broken or cancelled).
func (s *session) abort() {
	if s.client != nil {
		s.client.Close()
	}
	s.closed()
}

func (s *session) closed() {
	if s.onClose != nil {
		s.onClose()
		s.onClose = nil
	}
}
