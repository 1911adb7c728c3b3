package submission

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/mxout/mxout/metrics"
	"github.com/mxout/mxout/queue"
)

// maxAuthFailures is how many failed AUTH attempts a session gets before
// every further AUTH is refused; it slows down password guessing.
const maxAuthFailures = 3

// session is one client's SMTP session, from EHLO (or STARTTLS) to the
// end of the connection. go-smtp calls its methods from one goroutine.
type session struct {
	srv     *Server
	conn    *smtp.Conn
	ip      netip.Addr
	tls     bool
	trusted bool

	user         *account // nil until AUTH succeeds
	authFailures int

	// The current transaction; see reset.
	mailOK bool
	env    queue.Envelope
}

var (
	_ smtp.Session     = (*session)(nil)
	_ smtp.AuthSession = (*session)(nil)
)

func (s *Server) newSession(c *smtp.Conn) *session {
	ip := remoteIP(c.Conn().RemoteAddr())
	_, isTLS := c.TLSConnectionState()
	s.m.SessionsActive.WithLabelValues(metrics.SideSubmission).Inc()
	return &session{srv: s, conn: c, ip: ip, tls: isTLS, trusted: s.trusted(ip)}
}

// remoteIP is the client's address, IPv4-mapped IPv6 unmapped so that it
// matches IPv4 trusted networks; the zero Addr if it is not IP.
func remoteIP(a net.Addr) netip.Addr {
	if a == nil {
		return netip.Addr{}
	}
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// reject counts a refusal and returns its reply.
func (s *session) reject(reason string, r *smtp.SMTPError) *smtp.SMTPError {
	s.srv.m.MessagesRejected.WithLabelValues(reason).Inc()
	return r
}

// AuthMechanisms implements smtp.AuthSession. go-smtp offers them only
// over TLS.
func (s *session) AuthMechanisms() []string {
	if !s.srv.auth.enabled() {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

// Auth implements smtp.AuthSession.
func (s *session) Auth(mech string) (sasl.Server, error) {
	switch {
	case !s.srv.auth.enabled():
		return nil, smtp.ErrAuthUnsupported
	case s.authFailures >= maxAuthFailures:
		return nil, replyAuthTooMany()
	case s.mailOK:
		return nil, replyAuthInTransaction()
	}
	switch strings.ToUpper(mech) {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, username, password string) error {
			if identity != "" && identity != username {
				// Acting as another user is not supported (RFC 4616 2).
				return s.authFailed(username)
			}
			return s.authenticate(username, password)
		}), nil
	case sasl.Login:
		return newLoginServer(s.authenticate), nil
	default:
		return nil, smtp.ErrAuthUnknownMechanism
	}
}

func (s *session) authenticate(username, password string) error {
	acc := s.srv.auth.check(username, password)
	if acc == nil {
		return s.authFailed(username)
	}
	s.user = acc
	return nil
}

func (s *session) authFailed(username string) error {
	s.authFailures++
	s.srv.m.AuthFailures.Inc()
	s.srv.log.Warn("auth failed", "client", s.ip, "user", username)
	return replyAuthInvalid()
}

// Mail implements smtp.Session: relay permission, address shape, sender
// authorisation, in that order. go-smtp has already refused a SIZE above
// MaxMessageBytes with 552 5.3.4.
func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	s.reset()
	if s.user == nil && !s.trusted {
		return s.reject(ReasonAuthRequired, replyAuthRequired())
	}
	if opts == nil {
		opts = &smtp.MailOptions{}
	}
	if from != "" {
		switch err := checkAddress(from, opts.UTF8); {
		case errors.Is(err, errAddressUTF8):
			return s.reject(ReasonBadAddress, replyNeedsUTF8())
		case err != nil:
			return s.reject(ReasonBadAddress, replyBadSender())
		}
	}
	if s.user != nil && !s.user.mayUse(from) {
		s.srv.log.Warn("sender denied", "client", s.ip, "user", s.user.name, "from", from)
		return s.reject(ReasonSenderDenied, replySenderDenied())
	}
	s.mailOK = true
	s.env.From = from
	s.env.UTF8 = opts.UTF8
	s.env.DSN = queue.MessageDSN{Ret: string(opts.Return), EnvID: opts.EnvelopeID}
	s.env.Client = s.ip.String()
	if s.user != nil {
		s.env.User = s.user.name
	}
	return nil
}

// Rcpt implements smtp.Session. go-smtp has already applied
// MaxRecipients (452 4.5.3).
func (s *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	if !s.mailOK {
		return replyBadSequence()
	}
	switch err := checkAddress(to, s.env.UTF8); {
	case errors.Is(err, errAddressUTF8):
		return s.reject(ReasonBadAddress, replyNeedsUTF8())
	case err != nil:
		return s.reject(ReasonBadAddress, replyBadRecipient())
	}
	p := queue.RecipientParams{Addr: to}
	if opts != nil {
		for _, n := range opts.Notify {
			p.Notify = append(p.Notify, string(n))
		}
		if opts.OriginalRecipient != "" {
			p.ORCPT = string(opts.OriginalRecipientType) + ";" + opts.OriginalRecipient
		}
	}
	s.env.To = append(s.env.To, p)
	return nil
}

// Data implements smtp.Session. It returns only *smtp.SMTPError values:
// go-smtp would turn anything else into a permanent 554.
func (s *session) Data(r io.Reader) error {
	if !s.mailOK || len(s.env.To) == 0 {
		return replyBadSequence()
	}
	body, err := io.ReadAll(newCRLFReader(r))
	if err != nil {
		rep, reason := dataReply(err)
		return s.reject(reason, rep)
	}
	now := s.srv.now()
	id := queue.NewID(now)
	st := stamp{
		ID: id, Hostname: s.srv.cfg.Hostname, Helo: s.conn.Hostname(),
		IP: s.ip, TLS: s.tls, Auth: s.user != nil, Now: now,
	}
	if len(s.env.To) == 1 {
		st.Rcpt = s.env.To[0].Addr
	}
	msg := stampMessage(body, st)
	if s.srv.cfg.Signer != nil {
		signed, err := s.srv.cfg.Signer.Sign(msg, s.env.From)
		if err != nil {
			rep, reason := signReply(err)
			s.srv.log.Warn("dkim: message not signed, refused", "queue_id", id, "client", s.ip, "from", s.env.From, "reply", rep.Code, "err", err)
			return s.reject(reason, rep)
		}
		msg = signed
	}
	stored, err := s.srv.q.Enqueue(s.srv.ctx, id, s.env, msg)
	if err != nil {
		s.srv.log.Error("enqueue failed", "queue_id", id, "client", s.ip, "from", s.env.From, "err", err)
		return s.reject(ReasonStorage, replyStorage())
	}
	s.srv.m.MessagesAccepted.Inc()
	s.srv.log.Info("accepted", "queue_id", stored, "client", s.ip, "user", s.env.User,
		"from", s.env.From, "rcpts", len(s.env.To), "size", len(msg), "tls", s.tls)
	return replyQueued(stored)
}

// Reset implements smtp.Session (RSET, EHLO again, end of DATA).
func (s *session) Reset() { s.reset() }

func (s *session) reset() {
	s.mailOK = false
	s.env = queue.Envelope{}
}

// Logout implements smtp.Session; go-smtp calls it once per session.
func (s *session) Logout() error {
	s.srv.m.SessionsActive.WithLabelValues(metrics.SideSubmission).Dec()
	return nil
}
