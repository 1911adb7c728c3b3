package delivery

import (
	"context"
	"net/netip"

	"github.com/mxout/mxout/metrics"
	"github.com/mxout/mxout/queue"
)

// hop is one host to try, in order, and the TLS its sessions must have.
type hop struct {
	host   string
	tls    tlsPolicy
	policy hostPolicy // DANE, MTA-STS or delivery.tls (tlspolicy.go)
}

// hops lists the hosts for a: the smarthost, or the domain's MX hosts in
// RFC 5321 §5.1 order (the resolver sorts and shuffles them), each with
// its TLS policy: DANE, MTA-STS or the route's delivery.tls.
func (e *Engine) hops(ctx context.Context, a *attempt) ([]hop, error) {
	r := a.r
	if r.smarthost {
		return []hop{{host: r.host, tls: r.tls, policy: hostPolicy{kind: kindOf(r.tls)}}}, nil
	}
	mxs, secure, err := e.res.LookupMXSecure(ctx, r.dest)
	if err != nil {
		return nil, err
	}
	hosts := make([]string, len(mxs))
	for i, mx := range mxs {
		hosts[i] = mx.Host
	}
	return e.policyHops(ctx, a, hosts, secure), nil
}

// addrsOf resolves a host, or parses it when it is an address (a
// smarthost given as ip:port).
func (e *Engine) addrsOf(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	return e.res.LookupAddrs(ctx, host)
}

// target is one address of an MX host as the walk tries it.
type target struct {
	host   string
	addr   netip.AddrPort
	tls    tlsPolicy
	policy hostPolicy
}

// key is the pool's key for sessions to t: the same address and TLS
// policy, and, when the certificate is checked (verified, DANE, MTA-STS)
// or the session is authenticated (cred), the same host name.
func (t target) key(cred *credentials) connKey {
	k := connKey{addr: t.addr.String(), tls: t.tls}
	if t.tls.verify || t.tls.kind != "" || cred != nil {
		k.host = t.host
	}
	return k
}

// mxWalk is what one walk has learnt and spent.
type mxWalk struct {
	b        budget
	tried    bool    // an address was tried
	informed bool    // a host's DNS failure or unusable family was learnt
	last     Outcome // why no session was had, so far
	refused  Outcome // the guard's first refusal
	skipped  int     // addresses the guard refused
}

// walk runs a's transaction on the idle session its slot came with, if
// that is still alive, else on the first address along a.hops that
// accepts a session (from the pool or newly opened). Connection-level
// failures move on to the next address; replies to the transaction do
// not. outs is nil when no session could be had; then last says why.
// tried reports that an address was tried, so that the result says
// something about the destination's health.
func (e *Engine) walk(ctx context.Context, a *attempt) (outs map[int]Outcome, tried bool, last Outcome) {
	if s := a.slot.session(); s != nil {
		info := attemptInfo{host: s.remoteMTA, addr: s.addr, policy: s.policy, start: e.now()}
		if e.revive(a) {
			if res, ok := e.run(ctx, a, info); ok {
				return res.out, true, Outcome{}
			}
		}
	}
	w := &mxWalk{
		b:    budget{maxAddrs: e.cfg.MaxMXAddresses, maxSessions: e.cfg.MaxMXSessions},
		last: Outcome{State: queue.Pending, Status: "4.4.4", Response: "no usable mail exchanger for " + a.g.dest},
	}
	defer e.logWalk(a, w)
hosts:
	for _, h := range a.hops {
		if w.b.stop() {
			break
		}
		if !w.tried {
			a.policy = h.policy.kind
		}
		if f := h.policy.refused; f != nil {
			// The host's TLS policy refuses it (an MX outside an enforced
			// MTA-STS policy, a failed TLSA lookup): as if absent, but
			// the deferral names why when nothing else was learnt.
			e.refuseHost(a, h)
			if !w.tried {
				w.last, w.informed = refusedOutcome(h.host, f), true
			}
			continue
		}
		addrs, err := e.addrsOf(ctx, h.host)
		if err != nil {
			// A broken MX host name defers; only the domain's own MX answer
			// can make the failure permanent.
			w.last = deferInstead(Classify(err, h.host))
			w.last.Status = "4.4.3"
			w.informed = true
			continue
		}
		for _, addr := range addrs {
			t, ok := e.target(a, w, h, addr)
			if !ok {
				continue
			}
			if w.b.stop() {
				break hosts
			}
			if outs, ok := e.tryAddress(ctx, a, w, t); ok {
				return outs, true, Outcome{}
			}
			if o, ok := e.expired(ctx, h.host); ok {
				e.defence(metrics.DefenceAttemptDeadline)
				return nil, true, o
			}
			if ctx.Err() != nil {
				return nil, true, w.last
			}
		}
	}
	if !w.tried && !w.informed && w.skipped > 0 {
		// Addresses the guard refuses are skipped as if absent: their
		// 5.4.6 decides only when nothing else was learnt.
		w.last = w.refused
	}
	return nil, w.tried, w.last
}

// target returns addr of h as the walk tries it, or false when the walk
// must skip it: its family is not the relay's, or the guard refuses it.
func (e *Engine) target(a *attempt, w *mxWalk, h hop, addr netip.Addr) (target, bool) {
	if !e.usable(addr) {
		if !w.tried {
			w.last = Outcome{State: queue.Pending, Status: "4.4.4", RemoteMTA: h.host,
				Response: "no address of " + h.host + " is usable with delivery.ip_family and delivery.source_address"}
			w.informed = true
		}
		return target{}, false
	}
	if nonGlobal, err := e.guard.check(h.host, addr, a.r.port, a.r.smarthost); err != nil {
		if nonGlobal {
			e.defence(metrics.DefenceNonGlobalAddress)
		}
		if w.skipped == 0 {
			w.refused = Classify(err, h.host)
		}
		w.skipped++
		return target{}, false
	}
	return target{host: h.host, addr: netip.AddrPortFrom(addr, uint16(a.r.port)), tls: h.tls, policy: h.policy}, true
}

// tryAddress runs a's transaction at t: on an idle session to t from the
// pool that is still alive, else on a new one. ok is false when no
// session at t took the transaction; w.last then says why.
func (e *Engine) tryAddress(ctx context.Context, a *attempt, w *mxWalk, t target) (outs map[int]Outcome, ok bool) {
	w.tried = true
	a.policy = t.policy.kind
	w.b.addrs++
	for fresh := false; ; fresh = true {
		info := attemptInfo{host: t.host, addr: t.addr.String(), policy: t.policy.kind, start: e.now()}
		if err := e.sessionAt(ctx, a, t, fresh); err != nil {
			if connected(err) {
				w.b.sessions++
			}
			w.last = Classify(err, t.host)
			if w.last.State == queue.Failed {
				w.last = deferInstead(w.last) // a 5xx greeting or EHLO: this host only
			}
			return nil, false
		}
		w.b.sessions++
		if res, ok := e.run(ctx, a, info); ok {
			return res.out, true
		}
		w.b.sessions-- // a reused session that had died: no session spent
	}
}

// logWalk logs what kept the walk from addresses: the guard, or a limit.
func (e *Engine) logWalk(a *attempt, w *mxWalk) {
	if w.b.stopped {
		e.defence(metrics.DefenceMXLimit)
		e.log.Info("delivery: MX walk stopped by "+w.b.which(), "queue_id", a.m.ID, "dest", a.g.dest,
			"addresses", w.b.addrs, "sessions", w.b.sessions)
	}
	if w.skipped > 0 {
		e.log.Info("delivery: skipped MX addresses the relay must not connect to", "queue_id", a.m.ID, "dest", a.g.dest,
			"skipped", w.skipped, "reason", w.refused.Response)
	}
}
