package delivery

import (
	"time"

	"github.com/mxout/mxout/queue"
)

// A destination that keeps failing as a whole — no address accepts a
// session, or its transactions are deferred with 4xx to MAIL, DATA or the
// final dot, or 421 — is dead for a while, as in Postfix's queue manager:
// after Config.DeadAfter consecutive site failures its mail is deferred
// without connecting for Config.DeadHold. Then it is on probation: one
// connection at a time until a delivery round succeeds (any reply other
// than a temporary one to the whole transaction), which brings it back to
// its full connection cap; another failure makes it dead again.

// suspended reports whether dest is dead at now and, if so, the outcome to
// defer its mail with: the failure that made it dead.
func (p *pool) suspended(dest string, now time.Time) (Outcome, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dests[dest].suspension(now)
}

// suspension is suspended for st, which may be nil; p.mu must be held.
func (st *destState) suspension(now time.Time) (Outcome, bool) {
	if st == nil || !now.Before(st.dead) {
		return Outcome{}, false
	}
	o := deferInstead(st.last)
	o.Code = 0
	o.Response = clip("delivery temporarily suspended: " + st.last.Response)
	return o, true
}

// suspendedError is acquire's answer for a dead destination: the outcome
// to defer its mail with.
type suspendedError struct{ o Outcome }

func (e *suspendedError) Error() string { return e.o.Response }

// report records the end of a delivery round to dest: failed means a site
// failure (see above), o is its outcome. It returns true when the
// destination has just been declared dead, not when it was dead already.
func (p *pool) report(dest string, failed bool, o Outcome, now time.Time, after int, hold time.Duration) bool {
	if after <= 0 {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.state(dest)
	defer p.forget(dest, st)
	if !failed {
		st.failures = 0
		st.dead = time.Time{}
		st.signal() // off probation: waiters may use the full cap again
		return false
	}
	st.failures++
	st.lastFail = now
	p.sweep(now, hold)
	if st.failures < after {
		return false
	}
	// Rounds in flight when it died report their failures too: only the
	// first declares it dead (and logs it); the others extend the hold.
	already := now.Before(st.dead)
	st.dead = now.Add(hold)
	st.last = o
	if st.last.State != queue.Pending {
		st.last = deferInstead(st.last)
	}
	return !already
}

// revive forgets every destination's failures, as an operator's flush
// asks (Postfix's postqueue -f does the same): dead destinations are tried
// again at once, at their full connection cap. It returns how many
// destinations were dead or failing.
func (p *pool) revive() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for dest, st := range p.dests {
		if st.failures == 0 && st.dead.IsZero() {
			continue
		}
		n++
		st.failures, st.dead = 0, time.Time{}
		st.signal()
		p.forget(dest, st)
	}
	return n
}

// limit is how many connections dest may have at now: max, or one while it
// is on probation after a dead hold (as acquire allows).
func (p *pool) limit(dest string, max, deadAfter int, now time.Time) int {
	if deadAfter <= 0 {
		return max
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if st := p.dests[dest]; st != nil && st.failures >= deadAfter && !now.Before(st.dead) {
		return 1
	}
	return max
}

// A destination that failed is remembered (its failure count, its dead
// hold) while it holds connections, and for forgetAfter × the hold time
// after its last failure; then a new failure starts the count again. The
// map is keyed by recipient domains, which senders choose, so its entries
// must expire, and at most maxFailing destinations are remembered: beyond
// that, as during a flood of mail to many failing domains, idle ones are
// forgotten early (their next failures count from one again).
const (
	forgetAfter = 2
	sweepEvery  = time.Minute
	maxFailing  = 10000
)

// sweep forgets destinations that hold nothing and failed long enough ago,
// at most every sweepEvery unless there are too many; p.mu must be held.
func (p *pool) sweep(now time.Time, hold time.Duration) {
	if len(p.dests) <= maxFailing && now.Sub(p.lastSweep) < sweepEvery {
		return
	}
	p.lastSweep = now
	for dest, st := range p.dests {
		if st.open == 0 && st.waiters == 0 && !now.Before(st.lastFail.Add(forgetAfter*hold)) {
			delete(p.dests, dest)
		}
	}
	if len(p.dests) <= maxFailing {
		return
	}
	// Make room for a tenth more, so that a flood does not sweep the
	// whole map at every failure.
	for dest, st := range p.dests {
		if len(p.dests) <= maxFailing*9/10 {
			break
		}
		if st.open == 0 && st.waiters == 0 {
			delete(p.dests, dest)
		}
	}
}

// deadAt counts the destinations dead at now.
func (p *pool) deadAt(now time.Time) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, st := range p.dests {
		if now.Before(st.dead) {
			n++
		}
	}
	return n
}
