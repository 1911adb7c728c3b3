package delivery

import (
	"context"

	"github.com/mxout/mxout/queue"
)

// run carries a's transaction on the session attached to its slot, and
// ends the slot (finish). ok is false when that was a reused session that
// died before the server answered: nothing was attempted, the session is
// dropped, the slot stays, and the caller tries a fresh connection. info
// says where the session came from, for the log line.
func (e *Engine) run(ctx context.Context, a *attempt, info attemptInfo) (res txResult, ok bool) {
	s := a.slot.session()
	info.connected = e.now()
	info.tls = s.tls
	info.uses = s.uses + 1
	// go-smtp sets its own deadlines, so cancelling must close the socket.
	stop := context.AfterFunc(ctx, func() { s.rc.Conn.Close() })
	res = s.transact(a.m, a.body, a.g.idxs, e.cfg.Timeouts)
	if !stop() {
		res.broken = true
	}
	if res.silent && s.reused && ctx.Err() == nil {
		e.log.Debug("delivery: reused session died; reconnecting", "queue_id", a.m.ID, "relay", s.addr, "host", s.remoteMTA)
		a.slot.drop()
		return res, false
	}
	info.end = e.now()
	mx := s.mx()
	for i, o := range res.out {
		if o.RemoteMTA != "" {
			o.MX = mx
			res.out[i] = o
		}
	}
	e.expire(ctx, res.out, s.remoteMTA)
	e.health(a.r, res.siteFailure, anyPending(res.out))
	e.finish(ctx, a, res)
	e.m.AttemptDuration.Observe(info.end.Sub(info.start).Seconds())
	e.logOutcomes(a.m, a.g.idxs, res.out, info)
	return res, true
}

// finish ends a's slot after a transaction: its session goes to the pool
// for the next message, or is closed when it is broken, has carried its
// share of messages or the engine is stopping.
func (e *Engine) finish(ctx context.Context, a *attempt, res txResult) {
	switch {
	case res.broken || ctx.Err() != nil:
		a.slot.Release()
	case a.slot.session().uses >= a.r.policy.MaxMessagesPerConnection:
		a.slot.Close(e.cfg.Timeouts.Rset)
	default:
		a.slot.Keep()
	}
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
