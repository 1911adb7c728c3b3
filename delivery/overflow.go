package delivery

import (
	"time"

	"github.com/mxout/mxout/queue"
)

// A destination takes at most its connection cap of transactions at once;
// more workers with mail for it wait for a slot. Without a bound, a large
// backlog for one destination (a newsletter to one mailbox provider) would
// hold every worker, and mail for every other destination would wait
// behind it. So the line of waiting workers is as long as the cap at most:
// a worker that finds it full postpones its recipients for that
// destination, without an attempt, to a turn in the destination's own
// schedule, and takes other mail. The turns follow the pace the
// destination keeps (its cap over its average transaction time), so each
// postponed message comes back about when a slot is free for it; then it
// takes its place in the line even if the line is full, rather than go to
// the back of the schedule again.

// maxOverflowWait bounds a postponement: a turn further away is cut to
// this, and the message asks again then (the destination may have sped up).
const maxOverflowWait = time.Minute

// maxOverflowed bounds the messages a destination remembers as postponed
// to a turn; beyond it, more are postponed without that right.
const maxOverflowed = 100000

// unmeasuredWait is the postponement while no transaction to the
// destination has ended yet, so its pace is unknown.
const unmeasuredWait = time.Second

// observe records how long a transaction to dest took (its session's
// opening included), for the pace of overflow turns: an average that
// weighs the last transactions most. It is kept while the destination has
// connections, which is when its line can fill.
func (p *pool) observe(dest string, took time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.state(dest)
	defer p.forget(dest, st)
	if st.avgTransaction == 0 {
		st.avgTransaction = took
		return
	}
	st.avgTransaction += (took - st.avgTransaction) / 8
}

// overflowTurn reports whether message id must be postponed rather than
// wait in the line of workers for dest, whose cap is max, and if so the
// time to postpone it to: after the transactions of the line ahead, and of
// the turns already given out. A message back from such a postponement
// takes its place in the line. A destination found with room in its line
// ends its schedule. On probation after being dead (deadAfter failures,
// dead.go) the cap, and so the line, is one.
func (p *pool) overflowTurn(dest string, id queue.ID, max, deadAfter int, now time.Time) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.dests[dest]
	if st == nil {
		return time.Time{}, false
	}
	if deadAfter > 0 && st.failures >= deadAfter {
		max = 1 // as acquire: one connection until one succeeds
	}
	if _, back := st.overflowed[id]; back {
		delete(st.overflowed, id)
		return time.Time{}, false
	}
	if st.open < max || st.waiters < max {
		st.overflowNext = time.Time{}
		return time.Time{}, false
	}
	if st.avgTransaction <= 0 {
		// No transaction has ended yet to tell the pace: ask again soon,
		// without a schedule built on a guess.
		return now.Add(unmeasuredWait), true
	}
	every := st.avgTransaction / time.Duration(max) // the pace at which slots free up
	turn := now.Add(time.Duration(st.waiters+1) * every)
	if st.overflowNext.After(turn) {
		turn = st.overflowNext
	}
	st.overflowNext = turn.Add(every)
	if latest := now.Add(maxOverflowWait); turn.After(latest) {
		turn = latest
	}
	if st.overflowed == nil {
		st.overflowed = map[queue.ID]struct{}{}
	}
	if len(st.overflowed) < maxOverflowed {
		st.overflowed[id] = struct{}{}
	}
	return turn, true
}
