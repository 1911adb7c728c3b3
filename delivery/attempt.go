package delivery

import (
	"context"
	"errors"
	"net"

	"github.com/mxout/mxout/metrics"
	"github.com/mxout/mxout/queue"
)

// An attempt — one group's walk along its MX hosts and the transaction —
// is bounded three ways, so that a destination with many hosts and
// addresses that drop packets cannot hold a worker for hours: at most
// Config.MaxMXAddresses addresses are tried (Postfix's
// smtp_mx_address_limit), at most Config.MaxMXSessions connections are
// made that a server accepted (smtp_mx_session_limit), and the whole
// attempt ends at Timeouts.Attempt.

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
