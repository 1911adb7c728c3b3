package smtptest

import (
	"crypto/subtle"
	"errors"
	"io"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

var (
	errAuthRequired = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	errClosing      = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "Server shutting down"}
)

// backend hands go-smtp a session per client greeting.
type backend struct{ s *Server }

// NewSession starts a session; it runs on EHLO/HELO, so after STARTTLS
// it runs again, on the TLS connection.
func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	s := b.s
	if !s.enter() {
		return nil, errClosing
	}
	defer s.calls.Done()
	_, isTLS := c.TLSConnectionState()
	if isTLS {
		// Only one session per connection can start on TLS (go-smtp
		// refuses a second STARTTLS and keeps the session across EHLOs),
		// and only after the client finished the handshake and greeted.
		s.handshakes.Add(1)
	}
	if h := s.hostileAt(AtEHLO); h != nil && s.misbehave(c.Conn(), h) {
		return nil, errHostile
	}
	return &session{s: s, tls: isTLS, remote: c.Conn().RemoteAddr().String(), conn: c.Conn()}, nil
}

// errHostile is returned by a handler whose connection a hostile reply
// closed; go-smtp's attempt to send it fails.
var errHostile = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 0, 0}, Message: "hostile reply sent"}

// misbehave sends the hostile reply scripted for stage, if any, and
// reports whether it ended the connection.
func (ss *session) misbehave(stage Stage) bool {
	h := ss.s.hostileAt(stage)
	return h != nil && ss.s.misbehave(ss.conn, h)
}

// session is one client's envelope state; go-smtp calls it from one
// goroutine.
type session struct {
	s        *Server
	tls      bool
	remote   string
	conn     net.Conn // what go-smtp writes to, for hostile replies
	authUser string

	from     string
	mailOpts *smtp.MailOptions
	to       []string
	rcptOpts map[string]*smtp.RcptOptions
}

var _ smtp.AuthSession = (*session)(nil)

// Reset forgets the envelope (RSET, or after a message).
func (ss *session) Reset() {
	ss.from, ss.mailOpts, ss.to, ss.rcptOpts = "", nil, nil, nil
}

// Logout has nothing to free.
func (ss *session) Logout() error { return nil }

// AuthMechanisms offers PLAIN and LOGIN when the server requires AUTH.
func (ss *session) AuthMechanisms() []string {
	if ss.s.opts.AuthUser == "" {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

// Auth starts a SASL exchange for mech.
func (ss *session) Auth(mech string) (sasl.Server, error) {
	ss.s.authAttempts.Add(1)
	if ss.s.opts.AuthUser == "" {
		return nil, smtp.ErrAuthUnsupported
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, user, pass string) error {
			if identity != "" && identity != user {
				return smtp.ErrAuthFailed
			}
			return ss.login(user, pass)
		}), nil
	case sasl.Login:
		return &loginServer{check: ss.login}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (ss *session) login(user, pass string) error {
	o := ss.s.opts
	if subtle.ConstantTimeCompare([]byte(user), []byte(o.AuthUser)) != 1 ||
		subtle.ConstantTimeCompare([]byte(pass), []byte(o.AuthPassword)) != 1 {
		return smtp.ErrAuthFailed
	}
	ss.authUser = user
	return nil
}

// Mail answers MAIL FROM as scripted.
func (ss *session) Mail(from string, opts *smtp.MailOptions) error {
	s := ss.s
	if !s.enter() {
		return errClosing
	}
	defer s.calls.Done()
	if s.opts.AuthUser != "" && ss.authUser == "" {
		return errAuthRequired
	}
	if ss.misbehave(AtMail) {
		return errHostile
	}
	if err := s.mailReply().err(); err != nil {
		return err
	}
	ss.Reset()
	ss.from, ss.mailOpts = from, opts
	return nil
}

// Rcpt counts the attempt and answers RCPT TO as scripted.
func (ss *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	s := ss.s
	if !s.enter() {
		return errClosing
	}
	defer s.calls.Done()
	key := strings.ToLower(to)
	attempt := s.countRcpt(key)
	if ss.misbehave(AtRcpt) {
		return errHostile
	}
	if err := s.rcptReply(to, key, attempt).err(); err != nil {
		return err
	}
	ss.to = append(ss.to, to)
	if opts != nil {
		if ss.rcptOpts == nil {
			ss.rcptOpts = make(map[string]*smtp.RcptOptions)
		}
		ss.rcptOpts[to] = opts
	}
	return nil
}

// Data reads the body, then waits, answers and records as scripted.
func (ss *session) Data(r io.Reader) error {
	s := ss.s
	if !s.enter() {
		return errClosing
	}
	defer s.calls.Done()
	var body []byte
	var err error
	if s.opts.Discard {
		_, err = io.Copy(io.Discard, r)
	} else {
		body, err = io.ReadAll(r)
	}
	if err != nil {
		return readError(err)
	}
	if ss.misbehave(AtData) {
		return errHostile
	}
	reply, delay, onMessage := s.dataScript()
	s.sleep(delay)
	if err := reply.err(); err != nil {
		return err
	}
	m := Message{
		From:       ss.from,
		To:         ss.to,
		Data:       body,
		TLS:        ss.tls,
		AuthUser:   ss.authUser,
		MailOpts:   ss.mailOpts,
		RcptOpts:   ss.rcptOpts,
		RemoteAddr: ss.remote,
		Received:   time.Now(),
	}
	// The session gives its envelope away; Reset starts a fresh one.
	ss.to, ss.rcptOpts = nil, nil
	if onMessage != nil {
		onMessage(m)
	}
	s.record(m)
	return nil
}

// readError keeps go-smtp's own replies (552 too large) and makes any
// other read failure temporary: go-smtp would send it as 554.
func readError(err error) error {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se
	}
	return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Read error: " + err.Error()}
}

// loginServer is the server side of SASL LOGIN, which go-sasl lacks.
type loginServer struct {
	step  int
	user  string
	check func(user, pass string) error
}

// Next handles one client response: the user name (possibly sent as the
// initial response), then the password.
func (a *loginServer) Next(resp []byte) (challenge []byte, done bool, err error) {
	switch a.step {
	case 0:
		a.step = 1
		if resp == nil {
			return []byte("Username:"), false, nil
		}
		fallthrough
	case 1:
		a.user = string(resp)
		a.step = 2
		return []byte("Password:"), false, nil
	case 2:
		a.step = 3
		return nil, true, a.check(a.user, string(resp))
	}
	return nil, false, sasl.ErrUnexpectedClientResponse
}
