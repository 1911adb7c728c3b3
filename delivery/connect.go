package delivery

import (
	"context"
	"crypto/tls"
	"errors"

	"github.com/mxout/mxout/metrics"
)

// sessionAt attaches a session to t to a's slot: an idle one from the
// pool that answers RSET (unless fresh), or a new one.
func (e *Engine) sessionAt(ctx context.Context, a *attempt, t target, fresh bool) error {
	key := t.key(a.r.cred)
	if !fresh && a.slot.take(key) && e.revive(a) {
		return nil
	}
	s, err := e.open(ctx, a, t)
	if err != nil {
		return err
	}
	s.key, s.policy = key, t.policy.kind
	a.slot.Attach(s)
	return nil
}

// open opens a new session to t. With opportunistic TLS, a failed
// handshake is retried at once in plaintext; credentials are never sent
// over it (the opener refuses AUTH without TLS). Under DANE or MTA-STS
// (t.policy.check) the policy judges the handshake, and a failure is never
// retried in plaintext.
func (e *Engine) open(ctx context.Context, a *attempt, t target) (*session, error) {
	s, err := e.opener.open(ctx, t.host, t.addr, t.tls, t.policy.check, a.r.cred)
	if errors.Is(err, errTLSHandshake) {
		e.observeSession(a, t, nil, err)
		if t.tls.mode == tlsMay {
			e.log.Info("delivery: TLS handshake failed; retrying in plaintext", "queue_id", a.m.ID, "relay", t.addr, "host", t.host, "err", clipErr(err))
			t.tls = tlsPolicy{mode: tlsOff}
			s, err = e.opener.open(ctx, t.host, t.addr, t.tls, nil, a.r.cred)
			if err == nil {
				e.m.OutboundTLS.WithLabelValues(t.policy.kind, metrics.TLSPlaintext).Inc()
			}
		}
	} else {
		e.observeSession(a, t, s, err)
	}
	var cve *tls.CertificateVerificationError
	switch {
	case errors.As(err, &cve):
		e.defence(metrics.DefenceCertificateNotVerified)
		msg := "delivery: certificate not verified; mail deferred"
		if a.r.cred != nil {
			msg += ", no AUTH sent"
		}
		e.log.Warn(msg, "queue_id", a.m.ID, "relay", t.addr, "host", t.host, "problem", clip(cve.Err.Error()))
		return nil, err
	case err != nil:
		e.log.Info("delivery: cannot open session", "queue_id", a.m.ID, "relay", t.addr, "host", t.host, "tls_policy", t.policy.kind, "err", clipErr(err))
		return nil, err
	}
	e.sessionsActive(1)
	s.onClose = func() { e.sessionsActive(-1) }
	return s, nil
}

// revive checks the idle session attached to a's slot with RSET before it
// carries mail. A dead one (the server timed it out, or restarted) is
// dropped, which costs no attempt; revive then reports false. Where the
// server offers PIPELINING, RSET goes out with the transaction's commands
// instead, and a dead session shows there (pipeline.go, run).
func (e *Engine) revive(a *attempt) bool {
	s := a.slot.session()
	if s.pipelining() {
		s.reused = true
		return true
	}
	if err := s.reset(e.cfg.Timeouts.Rset); err != nil {
		e.log.Debug("delivery: cached session is dead; reconnecting", "queue_id", a.m.ID, "relay", s.addr, "host", s.remoteMTA, "err", clipErr(err))
		a.slot.drop()
		return false
	}
	s.reused = true
	return true
}
