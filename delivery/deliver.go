package delivery

import (
	"context"
	"time"

	"github.com/mxout/mxout/metrics"
	"github.com/mxout/mxout/queue"
)

// maxRecipientsPerTransaction caps RCPTs in one transaction (RFC 5321
// §4.5.3.1.8 requires servers to take at least 100).
const maxRecipientsPerTransaction = 100

// group is the recipients of one message for one destination: a domain,
// or in smarthost mode the smarthost.
type group struct {
	dest string
	idxs []int
}

// groupByDomain splits the due recipients by domain (all together when
// smarthost is set), in first-seen order, and each group into chunks of at
// most max recipients.
func groupByDomain(m *queue.Message, idxs []int, max int, smarthost string) []group {
	byDomain := map[string][]int{}
	var order []string
	for _, i := range idxs {
		d := smarthost
		if d == "" {
			d = queue.Domain(m.Recipients[i].Addr)
		}
		if _, seen := byDomain[d]; !seen {
			order = append(order, d)
		}
		byDomain[d] = append(byDomain[d], i)
	}
	var out []group
	for _, d := range order {
		all := byDomain[d]
		for len(all) > 0 {
			n := min(len(all), max)
			out = append(out, group{dest: d, idxs: all[:n]})
			all = all[n:]
		}
	}
	return out
}

// deliverMessage makes one delivery round for a leased message: every due
// recipient gets an attempt, one destination after another. Each
// destination's results are written as soon as its transaction ends
// (record), so that a crash repeats only the transaction in flight, not
// the destinations already done; its failures wait for the round's end,
// so that the round's failures make one notice. connectionsDone is called
// once the round needs no more connections, before its last results are
// written, so that the scheduler can admit the destination's next message
// meanwhile.
func (e *Engine) deliverMessage(m *queue.Message, connectionsDone func()) {
	ctx := e.workCtx
	start := e.now()
	due := m.DueRecipients(start)
	if len(due) == 0 {
		e.returnLease(m.ID)
		return
	}
	body, err := e.q.Body(m.ID)
	if err != nil {
		e.log.Error("delivery: cannot read body; retrying later", "queue_id", m.ID, "err", err)
		e.complete(m, nil, e.resultsFor(m, due, Outcome{State: queue.Pending, Status: "4.3.0", Response: "local error reading the queued message"}, start))
		return
	}
	groups := groupByDomain(m, due, e.cfg.MaxRecipientsPerTransaction, e.smarthost.host)
	var held []queue.RoundResult // the round's failures, and results not yet written
	for n, g := range groups {
		results := e.groupResults(ctx, m, body, g)
		if ctx.Err() != nil {
			// Shutdown deadline: keep what is final, retry the rest at once.
			held = append(held, finalOnly(results)...)
			if len(held) == 0 {
				e.returnLease(m.ID)
				return
			}
			e.complete(m, body, held)
			return
		}
		if n == len(groups)-1 {
			held = append(held, results...)
			break
		}
		var now []queue.RoundResult
		for _, r := range results {
			if r.State == queue.Failed {
				held = append(held, r)
			} else {
				now = append(now, r)
			}
		}
		m, now = e.record(m, body, now)
		held = append(held, now...)
	}
	connectionsDone()
	e.complete(m, body, held)
}

// groupResults delivers group g of m and returns its recipients' results.
func (e *Engine) groupResults(ctx context.Context, m *queue.Message, body []byte, g group) []queue.RoundResult {
	outs, later := e.deliverGroup(ctx, m, body, g)
	results := make([]queue.RoundResult, 0, len(g.idxs))
	now := e.now()
	for _, i := range g.idxs {
		switch o, ok := outs[i]; {
		case !later.IsZero():
			results = append(results, postponed(m, i, later))
		case ok || ctx.Err() == nil:
			results = append(results, e.result(m, i, o, now))
		}
	}
	return results
}

// finalOnly returns the results that are final: delivered or failed.
func finalOnly(results []queue.RoundResult) []queue.RoundResult {
	var out []queue.RoundResult
	for _, r := range results {
		if r.State != queue.Pending {
			out = append(out, r)
		}
	}
	return out
}

// result turns an outcome into the queue's record, scheduling the retry of
// a temporary failure or failing it once the lifetime is over.
func (e *Engine) result(m *queue.Message, i int, o Outcome, now time.Time) queue.RoundResult {
	r := queue.RoundResult{
		Result:    queue.Result{Index: i, State: o.State, Attempted: now, Response: o.Response, Status: o.Status, RemoteMTA: o.RemoteMTA},
		RemoteDSN: o.RemoteDSN,
		MX:        o.MX,
	}
	if o.State == queue.Pending {
		if ctxDone(e.workCtx) {
			r.NextAttempt = now
			return r
		}
		next, expired := e.cfg.Retry.NextAttempt(m.Arrival, now, m.Recipients[i].Attempts+1, e.cfg.Rand)
		if expired {
			r.State, r.Expired = queue.Failed, true
			r.Status = "5.4.7"
			r.Response = clip("delivery time expired; last error: " + o.Response)
			e.logExpired(m, i, r.Result, now)
		}
		r.NextAttempt = next
	}
	return r
}

// postponed keeps recipient i for its turn at later without an attempt:
// the queue leaves its attempt count and last response as they were.
func postponed(m *queue.Message, i int, later time.Time) queue.RoundResult {
	rc := m.Recipients[i]
	return queue.RoundResult{Result: queue.Result{
		Index: i, State: queue.Pending, Postponed: true, NextAttempt: later,
		Attempted: rc.LastAttempt, Response: rc.LastResponse, Status: rc.Status, RemoteMTA: rc.RemoteMTA,
	}}
}

func (e *Engine) resultsFor(m *queue.Message, idxs []int, o Outcome, now time.Time) []queue.RoundResult {
	var out []queue.RoundResult
	for _, i := range idxs {
		out = append(out, e.result(m, i, o, now))
	}
	return out
}

// record writes part of a round, one destination's results other than
// its failures (deliverMessage), and keeps the lease: the notifier sees
// them first, as a partial round, then the queue writes them through the
// group commit. It returns the message as now stored and nothing left
// over; when the write fails, the message as it was and the results, for
// the round's end to write (a success notice may then be sent twice).
func (e *Engine) record(m *queue.Message, body []byte, results []queue.RoundResult) (*queue.Message, []queue.RoundResult) {
	if len(results) == 0 {
		return m, nil
	}
	u := e.notify(m, body, results, true)
	stored, err := e.q.Record(m.ID, u)
	if err != nil {
		e.log.Error("delivery: cannot record a destination's results; they are written with the round's end", "queue_id", m.ID, "err", err)
		return m, results
	}
	e.written(m, u)
	return stored, nil
}

// complete hands the round's last results to the notifier, then records
// them, ends the lease and counts them. Notices are queued first so that
// they are durable before the queue may delete the message (see
// Notifier).
func (e *Engine) complete(m *queue.Message, body []byte, results []queue.RoundResult) {
	u := e.notify(m, body, results, false)
	if _, err := e.q.Complete(m.ID, u); err != nil {
		// The lease is gone from memory; the message is due again when the
		// lease pushed it to, and this round's outcomes are retried.
		e.log.Error("delivery: cannot record results; will retry", "queue_id", m.ID, "err", err)
		return
	}
	e.written(m, u)
}

// written follows a write of u for m (record, complete): it tells the
// events recorder what the queue wrote and counts the results.
func (e *Engine) written(m *queue.Message, u queue.Update) {
	if e.cfg.Events != nil {
		e.cfg.Events.Written(u.Events)
	}
	for _, r := range u.Results {
		e.count(m, r)
	}
}

// notify hands results to the notifier, partial unless they end the
// round, and returns the update that writes them, with their events: a
// failure whose notice could not be queued is written as a deferral.
func (e *Engine) notify(m *queue.Message, body []byte, results []queue.RoundResult, partial bool) queue.Update {
	var u queue.Update
	if e.cfg.Notifier != nil {
		// A round that ended is reported even while shutting down: queuing
		// a notice is a local write.
		ctx := context.WithoutCancel(e.workCtx)
		n, err := e.cfg.Notifier.Notify(ctx, queue.Round{Message: m, Body: body, Results: results, Time: e.now(), Partial: partial})
		if err != nil {
			e.log.Error("delivery: cannot queue the failure notice; the failed recipients will be retried", "queue_id", m.ID, "err", err)
			results = e.keepFailedPending(m, results)
		}
		u.DelayNotified = n.DelayNotified
	}
	for _, r := range results {
		u.Results = append(u.Results, r.Result)
	}
	if e.cfg.Events != nil {
		u.Events = e.cfg.Events.Round(queue.Round{Message: m, Body: body, Results: results, Time: e.now(), Partial: partial})
	}
	return u
}

// keepFailedPending turns failures into deferrals when their notice could
// not be queued, as Postfix defers on a "bounce service failure": the
// recipient is tried again later, and the notice with it.
func (e *Engine) keepFailedPending(m *queue.Message, results []queue.RoundResult) []queue.RoundResult {
	out := make([]queue.RoundResult, len(results))
	for j, r := range results {
		if r.State == queue.Failed {
			r.State = queue.Pending
			r.Status = "4.3.0"
			r.Response = clip("failure notice not queued; will retry (" + r.Response + ")")
			r.NextAttempt = r.Attempted.Add(e.cfg.Retry.Interval(m.Recipients[r.Index].Attempts+1, e.cfg.Rand))
		}
		out[j] = r
	}
	return out
}

func (e *Engine) count(m *queue.Message, r queue.Result) {
	if r.Postponed {
		return
	}
	domain := queue.Domain(m.Recipients[r.Index].Addr)
	switch r.State {
	case queue.Delivered:
		e.m.Delivery(metrics.ResultDelivered, domain)
		e.m.DeliveryLatency.Observe(r.Attempted.Sub(m.Arrival).Seconds())
	case queue.Failed:
		e.m.Delivery(metrics.ResultBounced, domain)
		e.m.DeliveryLatency.Observe(r.Attempted.Sub(m.Arrival).Seconds())
	default:
		e.m.Delivery(metrics.ResultDeferred, domain)
	}
}

func (e *Engine) returnLease(id queue.ID) {
	if err := e.q.ReturnLease(id); err != nil {
		e.log.Error("delivery: cannot return lease", "queue_id", id, "err", err)
	}
}

// defence counts an outbound defence that fired (metrics.Defence*).
func (e *Engine) defence(name string) {
	e.m.DeliveryDefences.WithLabelValues(name).Inc()
}

func (e *Engine) sessionsActive(d float64) {
	e.m.SessionsActive.WithLabelValues(metrics.SideDelivery).Add(d)
}

func ctxDone(ctx context.Context) bool { return ctx.Err() != nil }

// deferInstead turns a failure into a deferral with the same detail.
func deferInstead(o Outcome) Outcome {
	o.State = queue.Pending
	if len(o.Status) > 1 && o.Status[0] == '5' {
		o.Status = "4" + o.Status[1:]
	}
	return o
}
