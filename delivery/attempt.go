package delivery

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/mxout/mxout/metrics"
	"github.com/mxout/mxout/queue"
)

// attempt is one group's delivery attempt: the recipients of one message
// for one destination, the route and hosts their mail takes, and, from
// acquire on, the connection slot the attempt holds. It goes from the
// destination checks through the MX walk (walk.go) to the transaction on
// a session (run.go).
type attempt struct {
	m    *queue.Message
	body []byte
	g    group
	r    route
	hops []hop
	slot *slot
	// policy is the TLS policy of the host tried last (of the route
	// before any), for the log lines of outcomes without a session.
	policy string
}

// deliverGroup delivers one group: unless its destination is dead, it
// waits for the destination's rate turn (or returns later, the time to
// postpone the group to, when that is far off), takes a connection slot,
// and runs the transaction on the slot's idle session or along the MX
// walk.
func (e *Engine) deliverGroup(ctx context.Context, m *queue.Message, body []byte, g group) (outs map[int]Outcome, later time.Time) {
	a := &attempt{m: m, body: body, g: g, r: e.routeFor(g.dest)}
	a.policy = kindOf(a.r.tls)
	// A dead destination takes no rate turn and no DNS lookup; acquire
	// checks again once it has waited for a slot.
	if o, dead := e.pool.suspended(a.r.dest, e.now()); dead {
		return e.failGroup(a, o), time.Time{}
	}
	if later, err := e.waitTurn(ctx, a); err != nil {
		return e.failGroup(a, Classify(err, "")), time.Time{}
	} else if !later.IsZero() {
		return nil, later
	}
	hops, err := e.hops(ctx, a)
	if err != nil {
		return e.failGroup(a, Classify(err, "")), time.Time{}
	}
	a.hops = hops
	if a.slot, err = e.pool.acquire(ctx, a.r.dest, a.r.policy.MaxConnections, e.cfg.DeadAfter); err != nil {
		var dead *suspendedError
		if errors.As(err, &dead) {
			return e.failGroup(a, dead.o), time.Time{}
		}
		return e.failGroup(a, Classify(err, "")), time.Time{}
	}
	defer a.slot.Release()
	actx, cancel := e.attemptContext(ctx)
	outs, tried, last := e.walk(actx, a)
	cancel()
	if outs == nil {
		if tried {
			e.health(a.r, true, last)
		}
		a.slot.Release()
		outs = e.failGroup(a, last)
	}
	return outs, time.Time{}
}

// waitTurn waits for a's turn under its destination's rate. A turn
// further off than maxRateWait is not waited for but returned as later.
func (e *Engine) waitTurn(ctx context.Context, a *attempt) (later time.Time, err error) {
	every := a.r.policy.Rate.Interval()
	if every <= 0 {
		return time.Time{}, nil
	}
	now := e.now()
	turn := e.rates.reserve(a.m.ID, a.r.dest, every, now)
	if wait := turn.Sub(now); wait <= maxRateWait {
		return time.Time{}, sleep(ctx, wait)
	}
	e.rates.hold(a.m.ID, a.r.dest, turn, now)
	e.log.Debug("delivery postponed by rate", "queue_id", a.m.ID, "dest", a.r.dest, "until", turn)
	return turn, nil
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

// failGroup gives every recipient of a the same outcome and logs it.
func (e *Engine) failGroup(a *attempt, o Outcome) map[int]Outcome {
	out := make(map[int]Outcome, len(a.g.idxs))
	for _, i := range a.g.idxs {
		out[i] = o
	}
	e.logOutcomes(a.m, a.g.idxs, out, attemptInfo{policy: a.policy})
	return out
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

// An attempt is bounded three ways, so that a destination with many
// hosts and addresses that drop packets cannot hold a worker for hours:
// at most Config.MaxMXAddresses addresses are tried (Postfix's
// smtp_mx_address_limit), at most Config.MaxMXSessions connections are
// made that a server accepted (smtp_mx_session_limit), and the whole
// attempt, from when it holds its slot, ends at Timeouts.Attempt.

// budget counts what one walk has spent of its limits; 0 is no limit.
type budget struct {
	maxAddrs, maxSessions int
	addrs, sessions       int
	stopped               bool // a limit kept the walk from an address or host
}

// stop reports whether a limit keeps the walk from its next address or
// host, and remembers it.
func (b *budget) stop() bool {
	if (b.maxAddrs > 0 && b.addrs >= b.maxAddrs) || (b.maxSessions > 0 && b.sessions >= b.maxSessions) {
		b.stopped = true
	}
	return b.stopped
}

// which names the limit that stopped the walk, for the log.
func (b *budget) which() string {
	if b.maxAddrs > 0 && b.addrs >= b.maxAddrs {
		return "delivery.max_mx_addresses"
	}
	return "delivery.max_mx_sessions"
}

// connected reports whether err, a failure to open a session, came after
// the TCP connection was made: the server spent a session on us.
func connected(err error) bool {
	var oe *net.OpError
	return !errors.As(err, &oe) || oe.Op != "dial"
}

// attemptContext bounds one attempt by Timeouts.Attempt. Its cause,
// once it has expired, is the deferral to report.
func (e *Engine) attemptContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, e.cfg.Timeouts.Attempt,
		temporaryLocal("4.4.2", "delivery attempt took longer than delivery.timeouts.attempt (%v)", e.cfg.Timeouts.Attempt))
}

// expired returns the outcome of an attempt whose deadline has passed;
// ok is false while the attempt may go on, and when the engine is
// shutting down (which cancels every attempt).
func (e *Engine) expired(ctx context.Context, remoteMTA string) (o Outcome, ok bool) {
	var le *localError
	if ctx.Err() == nil || e.workCtx.Err() != nil || !errors.As(context.Cause(ctx), &le) {
		return Outcome{}, false
	}
	return Classify(le, remoteMTA), true
}

// expire replaces the temporary outcomes of a transaction cut by the
// attempt deadline (a closed connection, to go-smtp) with the deadline's.
func (e *Engine) expire(ctx context.Context, outs map[int]Outcome, remoteMTA string) {
	o, ok := e.expired(ctx, remoteMTA)
	if !ok {
		return
	}
	e.defence(metrics.DefenceAttemptDeadline)
	for i, out := range outs {
		if out.State == queue.Pending {
			outs[i] = o
		}
	}
}
