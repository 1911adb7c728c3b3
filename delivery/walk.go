package delivery

import (
	"context"
	"crypto/tls"
	"errors"
	"net/netip"
	"time"

	"github.com/mxout/mxout/metrics"
	"github.com/mxout/mxout/queue"
)

// deliverGroup delivers one group: unless its destination is dead, it
// waits for the destination's rate turn (or returns later, the time to
// postpone the group to, when that is far off), takes a connection slot,
// and runs the transaction on a cached session or along the MX walk.
func (e *Engine) deliverGroup(ctx context.Context, m *queue.Message, body []byte, g group) (outs map[int]Outcome, later time.Time) {
	r := e.routeFor(g.dest)
	if o, dead := e.pool.suspended(r.dest, e.now()); dead {
		return e.failGroup(m, g, o), time.Time{}
	}
	if every := r.policy.Rate.Interval(); every > 0 {
		now := e.now()
		turn := e.rates.reserve(m.ID, r.dest, every, now)
		if wait := turn.Sub(now); wait > maxRateWait {
			e.rates.hold(m.ID, r.dest, turn, now)
			e.log.Debug("delivery postponed by rate", "queue_id", m.ID, "dest", r.dest, "until", turn)
			return nil, turn
		} else if err := sleep(ctx, wait); err != nil {
			return e.failGroup(m, g, Classify(err, "")), time.Time{}
		}
	}
	hops, err := e.hops(ctx, r)
	if err != nil {
		return e.failGroup(m, g, Classify(err, "")), time.Time{}
	}
	cached, err := e.pool.acquire(ctx, r.dest, r.policy.MaxConnections, e.cfg.DeadAfter)
	if err != nil {
		return e.failGroup(m, g, Classify(err, "")), time.Time{}
	}
	if o, dead := e.pool.suspended(r.dest, e.now()); dead {
		// It died while this worker waited for a connection.
		if cached != nil {
			e.pool.put(cached, r.dest)
		} else {
			e.pool.release(r.dest)
		}
		return e.failGroup(m, g, o), time.Time{}
	}
	// From here this worker holds one slot of r.dest: the session's while
	// it has one, else a reservation for opening one.
	actx, cancel := e.attemptContext(ctx)
	outs, tried, last := e.walk(actx, m, body, g, r, hops, cached)
	cancel()
	if outs == nil {
		if tried {
			e.health(r, true, last)
		}
		e.pool.release(r.dest)
		outs = e.failGroup(m, g, last)
	}
	return outs, time.Time{}
}

// health reports a round's effect on the destination's health, before
// its slot is given back, so that a worker waiting for the slot sees the
// destination dead as soon as it is.
func (e *Engine) health(r route, failed bool, o Outcome) {
	if e.workCtx.Err() != nil {
		return // shutting down: says nothing about the destination
	}
	if e.pool.report(r.dest, failed, o, e.now(), e.cfg.DeadAfter, e.cfg.DeadHold) {
		e.log.Warn("delivery: destination is dead; its mail is deferred without connecting",
			"dest", r.dest, "for", e.cfg.DeadHold.String(), "reason", o.Response)
	}
}

// hop is one host to try, in order.
type hop struct{ host string }

// hops lists the hosts for r: the smarthost, or the domain's MX hosts in
// RFC 5321 §5.1 order (the resolver sorts and shuffles them).
func (e *Engine) hops(ctx context.Context, r route) ([]hop, error) {
	if r.smarthost {
		return []hop{{host: r.host}}, nil
	}
	mxs, err := e.res.LookupMX(ctx, r.dest)
	if err != nil {
		return nil, err
	}
	out := make([]hop, len(mxs))
	for i, mx := range mxs {
		out[i] = hop{host: mx.Host}
	}
	return out, nil
}

// addrsOf resolves a host, or parses it when it is an address (a
// smarthost given as ip:port).
func (e *Engine) addrsOf(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	return e.res.LookupAddrs(ctx, host)
}

// walk runs the transaction on cached, the destination's idle session, if
// it is still alive, else on the first address along the hops that
// accepts a session (from the cache or newly opened). Connection-level
// failures move on to the next address; replies to the transaction do
// not. outs is nil when no session could be had; then last says why, and
// the caller still holds the slot. tried reports that an address was
// tried, so the result says something about the destination's health.
func (e *Engine) walk(ctx context.Context, m *queue.Message, body []byte, g group, r route, hops []hop, cached *session) (outs map[int]Outcome, tried bool, last Outcome) {
	if cached != nil {
		info := attemptInfo{host: cached.remoteMTA, addr: cached.addr, start: e.now()}
		if s := e.revive(m, cached); s != nil {
			if res, ok := e.run(ctx, m, body, g, r, s, info); ok {
				return res.out, true, Outcome{}
			}
		}
	}
	last = Outcome{State: queue.Pending, Status: "4.4.4", Response: "no usable mail exchanger for " + g.dest}
	// Addresses the guard refuses are skipped as if absent: their 5.4.6
	// decides only when nothing else was learnt about the destination.
	var refused Outcome
	informed, skipped := false, 0
	b := budget{maxAddrs: e.cfg.MaxMXAddresses, maxSessions: e.cfg.MaxMXSessions}
	defer func() {
		if skipped > 0 {
			e.log.Info("delivery: skipped MX addresses the relay must not connect to", "queue_id", m.ID, "dest", g.dest,
				"skipped", skipped, "reason", refused.Response)
		}
	}()
	defer func() {
		if b.stopped {
			e.defence(metrics.DefenceMXLimit)
			e.log.Info("delivery: MX walk stopped by "+b.which(), "queue_id", m.ID, "dest", g.dest,
				"addresses", b.addrs, "sessions", b.sessions)
		}
	}()
hosts:
	for _, h := range hops {
		if b.stop() {
			break
		}
		addrs, err := e.addrsOf(ctx, h.host)
		if err != nil {
			// A broken MX host name defers; only the domain's own MX answer
			// can make the failure permanent.
			last = deferInstead(Classify(err, h.host))
			last.Status = "4.4.3"
			informed = true
			continue
		}
		for _, a := range addrs {
			if !e.usable(a) {
				if !tried {
					last = Outcome{State: queue.Pending, Status: "4.4.4", RemoteMTA: h.host,
						Response: "no address of " + h.host + " is usable with delivery.ip_family and delivery.source_address"}
					informed = true
				}
				continue
			}
			if nonGlobal, err := e.guard.check(h.host, a, r.port, r.smarthost); err != nil {
				if nonGlobal {
					e.defence(metrics.DefenceNonGlobalAddress)
				}
				if skipped == 0 {
					refused = Classify(err, h.host)
				}
				skipped++
				continue
			}
			if b.stop() {
				break hosts
			}
			tried = true
			b.addrs++
			ap := netip.AddrPortFrom(a, uint16(r.port))
			for fresh := false; ; fresh = true {
				info := attemptInfo{host: h.host, addr: ap.String(), start: e.now()}
				s, err := e.sessionAt(ctx, m, r, h.host, ap, fresh)
				if err != nil {
					if connected(err) {
						b.sessions++
					}
					last = Classify(err, h.host)
					if last.State == queue.Failed {
						last = deferInstead(last) // a 5xx greeting or EHLO: this host only
					}
					break
				}
				b.sessions++
				if res, ok := e.run(ctx, m, body, g, r, s, info); ok {
					return res.out, true, Outcome{}
				}
				b.sessions-- // a reused session that had died: no session spent
			}
			if o, ok := e.expired(ctx, h.host); ok {
				e.defence(metrics.DefenceAttemptDeadline)
				return nil, true, o
			}
			if ctx.Err() != nil {
				return nil, true, last
			}
		}
	}
	if !tried && !informed && skipped > 0 {
		last = refused
	}
	return nil, tried, last
}

// sessionAt returns a session to addr: an idle one from the cache that
// answers RSET (unless fresh), or a new one. With opportunistic TLS, a
// failed handshake is retried at once in plaintext.
func (e *Engine) sessionAt(ctx context.Context, m *queue.Message, r route, host string, addr netip.AddrPort, fresh bool) (*session, error) {
	key := keyFor(r, host, addr)
	if !fresh {
		if s := e.pool.take(key, r.dest); s != nil {
			if s = e.revive(m, s); s != nil {
				return s, nil
			}
		}
	}
	s, err := e.opener.open(ctx, host, addr, r.tls, r.cred)
	if errors.Is(err, errTLSHandshake) {
		e.observeTLS(metrics.TLSFailed)
		if r.tls.mode == tlsMay {
			e.log.Info("delivery: TLS handshake failed; retrying in plaintext", "queue_id", m.ID, "relay", addr, "host", host, "err", clipErr(err))
			s, err = e.opener.open(ctx, host, addr, tlsPolicy{mode: tlsOff}, r.cred)
		}
	}
	var cve *tls.CertificateVerificationError
	switch {
	case errors.As(err, &cve):
		e.defence(metrics.DefenceCertificateNotVerified)
		msg := "delivery: certificate not verified; mail deferred"
		if r.cred != nil {
			msg += ", no AUTH sent"
		}
		e.log.Warn(msg, "queue_id", m.ID, "relay", addr, "host", host, "problem", clip(cve.Err.Error()))
		return nil, err
	case err != nil:
		e.log.Info("delivery: cannot open session", "queue_id", m.ID, "relay", addr, "host", host, "err", clipErr(err))
		return nil, err
	}
	s.key = key
	e.sessionsActive(1)
	s.onClose = func() { e.sessionsActive(-1) }
	if s.tls != "" {
		e.observeTLS(metrics.TLSEstablished)
	} else {
		e.observeTLS(metrics.TLSPlaintext)
	}
	return s, nil
}

// revive checks an idle session with RSET before it carries mail, and
// returns it, or nil (and closes it) when it is dead: the server timed
// it out, or restarted. That costs no attempt.
func (e *Engine) revive(m *queue.Message, s *session) *session {
	if err := s.reset(e.cfg.Timeouts.Rset); err != nil {
		e.log.Debug("delivery: cached session is dead; reconnecting", "queue_id", m.ID, "relay", s.addr, "host", s.remoteMTA, "err", clipErr(err))
		s.abort()
		return nil
	}
	s.reused = true
	return s
}

// run carries the transaction on s and ends s's part in it: s goes back
// to the cache or is closed. ok is false when s was a reused session that
// died before the server answered: nothing was attempted, and the caller
// tries a fresh connection.
func (e *Engine) run(ctx context.Context, m *queue.Message, body []byte, g group, r route, s *session, info attemptInfo) (res txResult, ok bool) {
	info.connected = e.now()
	info.tls = s.tlsState()
	info.uses = s.uses + 1
	// go-smtp sets its own deadlines, so cancelling must close the socket.
	stop := context.AfterFunc(ctx, func() { s.rc.Conn.Close() })
	res = s.transact(m, body, g.idxs, e.cfg.Timeouts)
	if !stop() {
		res.broken = true
	}
	if res.silent && s.reused && ctx.Err() == nil {
		e.log.Debug("delivery: reused session died; reconnecting", "queue_id", m.ID, "relay", s.addr, "host", s.remoteMTA)
		s.abort()
		return res, false
	}
	info.end = e.now()
	e.expire(ctx, res.out, s.remoteMTA)
	e.health(r, res.siteFailure, anyPending(res.out))
	e.finish(s, r, res, ctx)
	if e.m != nil {
		e.m.AttemptDuration.Observe(info.end.Sub(info.start).Seconds())
	}
	e.logOutcomes(m, g.idxs, res.out, info)
	return res, true
}

// finish hands s back to the cache, or closes it when it is broken, has
// carried its share of messages or the engine is stopping.
func (e *Engine) finish(s *session, r route, res txResult, ctx context.Context) {
	switch {
	case res.broken || ctx.Err() != nil:
		s.abort()
		e.pool.release(r.dest)
	case s.uses >= r.policy.MaxMessagesPerConnection:
		s.close(e.cfg.Timeouts.Rset)
		e.pool.release(r.dest)
	default:
		e.pool.put(s, r.dest)
	}
}

// failGroup gives every recipient of g the same outcome and logs it.
func (e *Engine) failGroup(m *queue.Message, g group, o Outcome) map[int]Outcome {
	out := make(map[int]Outcome, len(g.idxs))
	for _, i := range g.idxs {
		out[i] = o
	}
	e.logOutcomes(m, g.idxs, out, attemptInfo{})
	return out
}

// anyPending returns one of outs' temporary failures, to describe a site
// failure; the zero Outcome if there is none.
func anyPending(outs map[int]Outcome) Outcome {
	for _, o := range outs {
		if o.State == queue.Pending {
			return o
		}
	}
	return Outcome{}
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
