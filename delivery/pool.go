package delivery

import (
	"context"
	"errors"
	"sync"
	"time"
)

// connKey says which sessions are interchangeable: the same address and
// the same TLS policy, and, when the certificate is verified or the
// session is authenticated, the same host name.
type connKey struct {
	addr string
	tls  tlsPolicy
	host string
}

// errPoolClosed is returned once the engine has shut down its sessions.
var errPoolClosed = errors.New("delivery is shutting down")

// pool bounds the connections per destination and keeps idle sessions for
// reuse. Each open connection holds one slot of the destination it last
// served: busy, idle in the cache, or being opened. A destination never
// holds more slots than its cap, so the cap bounds its open connections,
// idle ones included. An idle session may move to another destination
// whose mail goes to the same address (shared MX hosts); its slot moves
// with it. Attempts hold their slot through a *slot (slot.go), which
// calls put, take and release.
type pool struct {
	idleTimeout time.Duration
	quitTimeout time.Duration
	// maxIdle caps the idle sessions of all destinations together (0: no
	// cap); a session that would go beyond it is closed instead.
	maxIdle int
	// now is the clock that says whether a destination is dead.
	now func() time.Time

	mu        sync.Mutex
	dests     map[string]*destState
	idle      map[connKey][]*session
	nidle     int       // sessions in idle
	lastSweep time.Time // of the destinations that failed (dead.go)
	closed    bool
}

// destState is one destination's connections and health.
type destState struct {
	open     int        // slots held: connections busy, idle or being opened
	idle     []*session // this destination's idle sessions, oldest first
	waiters  int
	wake     chan struct{} // closed when a slot or an idle session may be free
	failures int           // consecutive site failures (dead.go)
	lastFail time.Time     // when the last of them was reported
	dead     time.Time     // suspended until then (dead.go)
	last     Outcome       // the failure that made it dead
}

func newPool(idleTimeout, quitTimeout time.Duration) *pool {
	return &pool{
		idleTimeout: idleTimeout, quitTimeout: quitTimeout, now: time.Now,
		dests: map[string]*destState{}, idle: map[connKey][]*session{},
	}
}

// state returns dest's state, creating it; p.mu must be held.
func (p *pool) state(dest string) *destState {
	st, ok := p.dests[dest]
	if !ok {
		st = &destState{wake: make(chan struct{})}
		p.dests[dest] = st
	}
	return st
}

// forget drops a destination that holds nothing and knows nothing worth
// keeping, so that the map does not grow with every domain ever seen;
// p.mu must be held.
func (p *pool) forget(dest string, st *destState) {
	if st.open == 0 && st.waiters == 0 && st.failures == 0 {
		delete(p.dests, dest)
	}
}

// signal wakes the goroutines waiting for dest; p.mu must be held.
func (st *destState) signal() {
	if st.waiters > 0 {
		close(st.wake)
		st.wake = make(chan struct{})
	}
}

// acquire waits until dest may use one more connection, at most max (or
// one while the destination is on probation after being dead), and
// returns the slot, with one of dest's idle sessions attached when there
// is one. A destination that is dead, or dies while acquire waits, gets
// a *suspendedError instead.
func (p *pool) acquire(ctx context.Context, dest string, max, deadAfter int) (*slot, error) {
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		if p.closed {
			return nil, errPoolClosed
		}
		st := p.state(dest)
		if o, dead := st.suspension(now); dead {
			return nil, &suspendedError{o}
		}
		if n := len(st.idle); n > 0 {
			s := st.idle[n-1] // the most recently used is the most likely alive
			p.unidle(s)
			return &slot{p: p, dest: dest, s: s}, nil
		}
		if deadAfter > 0 && st.failures >= deadAfter {
			max = 1 // probation: one connection until one succeeds
		}
		if st.open < max {
			st.open++
			return &slot{p: p, dest: dest}, nil
		}
		st.waiters++
		ch := st.wake
		p.mu.Unlock()
		var err error
		select {
		case <-ch:
		case <-ctx.Done():
			err = ctx.Err()
		}
		now = p.now()
		p.mu.Lock()
		st.waiters--
		if err != nil {
			p.forget(dest, st)
			return nil, err
		}
	}
}

// take returns an idle session for key, moving it to dest, whose slot the
// caller holds; nil if there is none.
func (p *pool) take(key connKey, dest string) *session {
	p.mu.Lock()
	defer p.mu.Unlock()
	list := p.idle[key]
	if len(list) == 0 {
		return nil
	}
	s := list[len(list)-1]
	from := s.owner
	p.unidle(s)
	// The caller's slot now belongs to s; the slot s held is given back.
	st := p.dests[from]
	st.open--
	st.signal()
	p.forget(from, st)
	return s
}

// unidle removes s from the idle lists and stops its timer; p.mu must be
// held. An expiry that already fired finds s no longer idle.
func (p *pool) unidle(s *session) {
	s.idle = false
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	p.idle[s.key] = remove(p.idle[s.key], s)
	p.nidle--
	if len(p.idle[s.key]) == 0 {
		delete(p.idle, s.key)
	}
	if st := p.dests[s.owner]; st != nil {
		st.idle = remove(st.idle, s)
	}
}

func remove(list []*session, s *session) []*session {
	for i, x := range list {
		if x == s {
			return append(list[:i], list[i+1:]...)
		}
	}
	return list
}

// put keeps s, which holds a slot of dest, for reuse until the idle
// timeout; when reuse is off, the pool is closed or holds maxIdle idle
// sessions already, it closes s instead.
func (p *pool) put(s *session, dest string) {
	p.mu.Lock()
	if p.closed || p.idleTimeout <= 0 || (p.maxIdle > 0 && p.nidle >= p.maxIdle) {
		p.mu.Unlock()
		s.close(p.quitTimeout)
		p.release(dest)
		return
	}
	st := p.state(dest)
	s.owner, s.idle, s.reused = dest, true, false
	st.idle = append(st.idle, s)
	p.idle[s.key] = append(p.idle[s.key], s)
	p.nidle++
	s.timer = time.AfterFunc(p.idleTimeout, func() { p.expire(s) })
	st.signal()
	p.mu.Unlock()
}

// expire closes s if it is still idle.
func (p *pool) expire(s *session) {
	p.mu.Lock()
	if !s.idle {
		p.mu.Unlock()
		return
	}
	dest := s.owner
	p.unidle(s)
	p.mu.Unlock()
	s.close(p.quitTimeout)
	p.release(dest)
}

// release gives back a slot of dest.
func (p *pool) release(dest string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.state(dest)
	st.open--
	st.signal()
	p.forget(dest, st)
}

// close closes every idle session (politely, in parallel) and makes the
// pool refuse new work and close sessions handed back.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	var all []*session
	for _, list := range p.idle {
		all = append(all, list...)
	}
	for _, s := range all {
		st := p.dests[s.owner]
		p.unidle(s)
		st.open--
	}
	for _, st := range p.dests {
		st.signal()
	}
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range all {
		wg.Go(func() { s.close(p.quitTimeout) })
	}
	wg.Wait()
}

// stats reports, for tests, a destination's slots and idle sessions.
func (p *pool) stats(dest string) (open, idle int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if st := p.dests[dest]; st != nil {
		return st.open, len(st.idle)
	}
	return 0, 0
}
