package submission

import (
	"net/netip"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// authOffered reports whether AUTH may be used on this session: there are
// users, and the session runs over TLS or is a trusted client on a relay
// that allows plaintext AUTH for those.
func (s *session) authOffered() bool {
	if !s.srv.auth.Load().enabled() {
		return false
	}
	return s.tls != nil || s.trusted && s.srv.cfg.AllowPlaintextAuthFromTrusted
}

// AuthMechanisms implements smtp.AuthSession; go-smtp advertises AUTH only
// when the list is not empty.
func (s *session) AuthMechanisms() []string {
	if !s.authOffered() {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

// Auth implements smtp.AuthSession. The client address is checked against
// the failure throttle here; the username, once the client has sent it.
func (s *session) Auth(mech string) (sasl.Server, error) {
	t := s.srv.cfg.AuthThrottle
	switch {
	case !s.srv.auth.Load().enabled():
		return nil, smtp.ErrAuthUnsupported
	case !s.authOffered():
		return nil, replyTLSRequired()
	case s.mailOK:
		return nil, replyAuthInTransaction()
	case s.tc.authFailures() >= t.MaxFailuresPerSession,
		s.srv.authFailsByIP.count(clientKey(s.ip), s.srv.now()) >= float64(t.MaxFailuresPerIP):
		return nil, s.throttled("")
	}
	switch strings.ToUpper(mech) {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, username, password string) error {
			if identity != "" && identity != username {
				// Acting as another user is not supported (RFC 4616 2);
				// the password is still checked, so this answer takes as
				// long as any other failure.
				s.srv.auth.Load().check(username, password)
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

// authenticate checks a username and password. Failures lock a username
// out only for the client address they came from: a stranger who fails
// with someone's name cannot lock its owner out, only slow it down (see
// userDelay).
func (s *session) authenticate(username, password string) error {
	now := s.srv.now()
	if s.srv.authFailsByUserIP.count(userIPKey(username, s.ip), now) >= float64(s.srv.cfg.AuthThrottle.MaxFailuresPerUser) {
		return s.throttled(username)
	}
	if d := s.userDelay(username, now); d > 0 {
		s.srv.log.Info("auth slowed down: many failures for this username", "client", s.ip, "user", username, "delay", d)
		s.pause(d)
	}
	acc := s.srv.auth.Load().check(username, password)
	if acc == nil {
		return s.authFailed(username)
	}
	s.user = acc
	s.tc.authenticated()
	s.srv.log.Info("auth succeeded", "client", s.ip, "user", username, "tls", s.tls != nil)
	return nil
}

// authFailed counts a failed AUTH everywhere it is limited, waits the
// throttle delay and answers 535 5.7.8; if this failure reaches a limit
// (per connection, per client address, per username from this address),
// the connection is closed after the reply.
func (s *session) authFailed(username string) error {
	t, now := s.srv.cfg.AuthThrottle, s.srv.now()
	s.srv.m.AuthFailures.Inc()
	perSession := s.tc.addAuthFailure()
	perIP := s.srv.authFailsByIP.add(clientKey(s.ip), now)
	perUserIP := s.srv.authFailsByUserIP.add(userIPKey(username, s.ip), now)
	s.srv.authFailsByUser.add(username, now)
	last := perSession >= t.MaxFailuresPerSession || perIP >= float64(t.MaxFailuresPerIP) || perUserIP >= float64(t.MaxFailuresPerUser)
	s.srv.log.Warn("auth failed", "client", s.ip, "user", username, "closing", last)
	s.pause(t.Delay)
	if last {
		s.tc.hangUp()
	}
	return replyAuthInvalid()
}

// maxUserDelaySteps caps userDelay at this many AuthThrottle.Delay.
const maxUserDelaySteps = 5

// userDelay is how much longer an AUTH for username waits because of the
// username's failures from all addresses: one AuthThrottle.Delay for every
// MaxFailuresPerUser failures in the window, at most maxUserDelaySteps of
// them. It applies to right passwords too (or the wait would tell a
// guesser which one was right), and it never refuses.
func (s *session) userDelay(username string, now time.Time) time.Duration {
	t := s.srv.cfg.AuthThrottle
	steps := int(s.srv.authFailsByUser.count(username, now)) / t.MaxFailuresPerUser
	return time.Duration(min(steps, maxUserDelaySteps)) * t.Delay
}

// userIPKey is the key of a username's failures from one client address
// (IPv6: its /64). The address comes first, so that a long username cut
// to the counter's key length keeps it.
func userIPKey(username string, ip netip.Addr) string {
	return clientKey(ip) + " " + username
}

// throttled answers an AUTH from a client address or for a username over
// its failure limit: 454 4.7.0 after the delay, without looking at the
// password, and the connection is closed.
func (s *session) throttled(username string) error {
	s.srv.m.AuthFailures.Inc()
	s.srv.log.Warn("auth throttled, closing connection", "client", s.ip, "user", username)
	s.pause(s.srv.cfg.AuthThrottle.Delay)
	s.tc.hangUp()
	return replyAuthTooMany()
}

// pause waits d, or until the server gives up on its sessions.
func (s *session) pause(d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.srv.ctx.Done():
	}
}
