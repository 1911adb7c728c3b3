package submission

import (
	"crypto/tls"
	"errors"
	"io"
	"net/netip"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mxout/mxout/queue"
)

// session is one client's SMTP session, from EHLO (or STARTTLS) to the
// end of the connection. go-smtp calls its methods from one goroutine,
// except Data during BDAT, which runs while no other method is called.
type session struct {
	srv     *Server
	conn    *smtp.Conn
	tc      *trackedConn // deadlines, hang-up and counters of the connection
	ip      netip.Addr
	tls     *tls.ConnectionState // nil without TLS
	trusted bool

	user *account // nil until AUTH succeeds

	// The current transaction; see reset.
	mailOK bool
	env    queue.Envelope
	size   int64 // MAIL FROM's SIZE, 0 when not given
}

var (
	_ smtp.Session     = (*session)(nil)
	_ smtp.AuthSession = (*session)(nil)
)

func (s *Server) newSession(c *smtp.Conn) *session {
	tc := connOf(c.Conn())
	if tc == nil {
		// Not accepted through Serve: limits per connection still count,
		// but nothing can hang up early.
		tc = newTrackedConn(c.Conn(), s)
	}
	sess := &session{srv: s, conn: c, tc: tc, ip: tc.ip, trusted: tc.trusted}
	if st, ok := c.TLSConnectionState(); ok {
		sess.tls = &st
	}
	return sess
}

// clientKey is the address the per-client limits count by: the address
// itself for IPv4, its /64 for IPv6, since one host usually has a whole
// /64 to pick addresses from.
func clientKey(ip netip.Addr) string {
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// reject counts a refusal in the metric and returns its reply.
func (s *session) reject(reason string, r *smtp.SMTPError) *smtp.SMTPError {
	s.srv.m.MessagesRejected.WithLabelValues(reason).Inc()
	return r
}

// refuse is reject for refusals the client caused, which also count
// towards MaxErrors: past it, the reply is 421 4.7.0 and the connection
// is closed after it.
func (s *session) refuse(reason string, r *smtp.SMTPError) *smtp.SMTPError {
	s.reject(reason, r)
	if s.tc.addError() > s.srv.cfg.MaxErrors {
		s.srv.log.Warn("too many errors, closing connection", "client", s.ip, "last", r.Error())
		s.tc.hangUp()
		return s.reject(ReasonTooManyErrors, replyTooManyErrors())
	}
	return r
}

// mayRelay reports whether the client may start a transaction: it is
// authenticated or comes from a trusted network.
func (s *session) mayRelay() bool { return s.user != nil || s.trusted }

// Mail implements smtp.Session: relay permission, rate limits, address
// shape, sender authorisation, in that order. go-smtp has already refused
// a SIZE above MaxMessageBytes with 552 5.3.4.
func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	s.reset()
	if s.user != nil {
		// Users may have been reloaded: a removed user is logged out, a
		// changed one gets its new allowed senders.
		name := s.user.name
		if s.user = s.srv.auth.Load().lookup(name); s.user == nil {
			s.srv.log.Warn("user removed, session no longer authenticated", "client", s.ip, "user", name)
		}
	}
	if !s.mayRelay() {
		return s.refuse(ReasonAuthRequired, replyAuthRequired())
	}
	if s.overRate() {
		s.srv.log.Warn("message rate limit", "client", s.ip, "user", s.userName())
		return s.refuse(ReasonRateLimit, replyRateLimited())
	}
	if opts == nil {
		opts = &smtp.MailOptions{}
	}
	if from != "" {
		switch err := checkAddress(from, opts.UTF8); {
		case errors.Is(err, errAddressUTF8):
			return s.refuse(ReasonBadAddress, replyNeedsUTF8())
		case err != nil:
			return s.refuse(ReasonBadAddress, replyBadSender())
		}
	}
	if s.user != nil && !s.user.mayUse(from) {
		s.srv.log.Warn("sender denied", "client", s.ip, "user", s.user.name, "from", from)
		return s.refuse(ReasonSenderDenied, replySenderDenied())
	}
	s.mailOK = true
	s.tc.setBusy(true)
	s.env.From = from
	s.env.UTF8 = opts.UTF8
	s.env.DSN = queue.MessageDSN{Ret: string(opts.Return), EnvID: opts.EnvelopeID}
	s.env.Client = s.ip.String()
	s.env.User = s.userName()
	s.size = opts.Size
	return nil
}

func (s *session) userName() string {
	if s.user == nil {
		return ""
	}
	return s.user.name
}

// overRate reports whether the user or the (untrusted) client address has
// sent its RateLimit of messages in the window.
func (s *session) overRate() bool {
	rl, now := s.srv.cfg.RateLimit, s.srv.now()
	if s.user != nil && rl.MessagesPerUser > 0 && s.srv.msgsByUser.count(s.user.name, now) >= float64(rl.MessagesPerUser) {
		return true
	}
	return !s.trusted && rl.MessagesPerIP > 0 && s.srv.msgsByIP.count(clientKey(s.ip), now) >= float64(rl.MessagesPerIP)
}

// countMessage records an accepted message for the rate limits.
func (s *session) countMessage() {
	rl, now := s.srv.cfg.RateLimit, s.srv.now()
	if s.user != nil && rl.MessagesPerUser > 0 {
		s.srv.msgsByUser.add(s.user.name, now)
	}
	if !s.trusted && rl.MessagesPerIP > 0 {
		s.srv.msgsByIP.add(clientKey(s.ip), now)
	}
}

// Rcpt implements smtp.Session. Relay permission is checked again, so
// that no path to a recipient skips it.
func (s *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	if !s.mailOK {
		return replyBadSequence()
	}
	if !s.mayRelay() {
		return s.refuse(ReasonAuthRequired, replyAuthRequired())
	}
	if len(s.env.To) >= s.srv.cfg.MaxRecipients {
		// Not a client error: it sends the rest in the next transaction.
		return s.reject(ReasonTooManyRecipients, replyTooManyRecipients())
	}
	switch err := checkAddress(to, s.env.UTF8); {
	case errors.Is(err, errAddressUTF8):
		return s.refuse(ReasonBadAddress, replyNeedsUTF8())
	case err != nil:
		return s.refuse(ReasonBadAddress, replyBadRecipient())
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

// Data implements smtp.Session, for DATA and BDAT alike. It returns only
// *smtp.SMTPError values: go-smtp would turn anything else into a
// permanent 554.
func (s *session) Data(r io.Reader) error {
	if !s.mailOK || len(s.env.To) == 0 {
		return replyBadSequence()
	}
	s.tc.startData(s.srv.cfg.DataTimeout)
	msg, err := s.srv.blocks.readMessage(newCRLFReader(r, s.srv.cfg.MaxLineLength), s.srv.room(), s.size)
	s.tc.endData()
	if err != nil {
		rep, reason := dataReply(err)
		switch reason {
		case ReasonTimeout:
			// What is left of the data cannot be told from commands.
			s.srv.log.Warn("message data timeout, closing connection", "client", s.ip)
			s.tc.hangUp()
			return s.reject(reason, rep)
		case ReasonBareLF, ReasonLineTooLong, ReasonSize:
			return s.refuse(reason, rep)
		}
		return s.reject(reason, rep)
	}
	now := s.srv.now()
	stored, size, rf := s.srv.store(s.srv.ctx, &arrival{env: s.env, msg: msg, user: s.user, stamp: s.stamp(queue.NewID(now), now), q: s.srv.q})
	if rf != nil {
		if rf.client {
			return s.refuse(rf.reason, rf.reply)
		}
		return s.reject(rf.reason, rf.reply)
	}
	s.countMessage()
	s.srv.log.Info("accepted", "queue_id", stored, "message_id", loggedMessageID(msg.bytes()), "client", s.ip, "user", s.env.User,
		"from", s.env.From, "rcpts", len(s.env.To), "size", size, "tls", s.tls != nil)
	return replyQueued(stored)
}

// stamp describes the Received field of the message being accepted.
func (s *session) stamp(id queue.ID, now time.Time) stamp {
	st := stamp{
		ID: id, Hostname: s.srv.cfg.Hostname, Helo: s.conn.Hostname(),
		IP: s.ip, HideIP: s.srv.cfg.HideClientIP, Auth: s.user != nil, Now: now,
	}
	if s.tls != nil {
		st.TLS = &stampTLS{Version: s.tls.Version, CipherSuite: s.tls.CipherSuite}
	}
	if s.user != nil && s.srv.cfg.ReceivedHeaderAuth {
		st.User = s.user.name
	}
	if len(s.env.To) == 1 {
		st.Rcpt = s.env.To[0].Addr
	}
	return st
}

// Reset implements smtp.Session (RSET, EHLO again, end of DATA).
func (s *session) Reset() { s.reset() }

func (s *session) reset() {
	s.mailOK = false
	s.env = queue.Envelope{}
	s.size = 0
	s.tc.setBusy(false)
}

// Logout implements smtp.Session; go-smtp calls it once per session. The
// connection, not the session, is what mxout_smtp_sessions_active counts.
func (s *session) Logout() error { return nil }
