package delivery

import (
	"sync"
	"time"

	"github.com/mxout/mxout/queue"
)

// Admission keeps a slow destination's backlog from taking every worker
// (head-of-line blocking): a message is leased only while the domain it
// is next due for has fewer than overAdmit × its connection cap of
// workers in their round; the scan passes over the others.
const (
	// overAdmit 2: the cap's worth of workers delivering and as many
	// holding the next message, so that a connection that finishes one
	// starts the next at once instead of idling while the scheduler leases.
	overAdmit = 2
	// Each refusal costs the scan a read: most scans give up after
	// shallowSkips (then look back as far from the newest mail), and one
	// per deepEvery looks deepSkips ahead for the mail in between.
	shallowSkips = 16
	deepSkips    = 20000
	deepEvery    = time.Second
	// After a scan that passed mail over, the scheduler waits rescanGap so
	// that the workers finishing meanwhile share the next scan.
	rescanGap = 2 * time.Millisecond
)

// admission counts the workers per destination domain. A nil admission
// (smarthost mode: one destination, capped by the pool) admits everything.
type admission struct {
	limit func(domain string) int // connections the domain may have now

	mu       sync.Mutex
	busy     map[string]int
	lastDeep time.Time
}

func newAdmission(limit func(domain string) int) *admission {
	return &admission{limit: limit, busy: map[string]int{}}
}

// filter returns the LeaseFilter for one scan at now, and the number of
// messages it refused so far, which is final once the scan has returned.
func (a *admission) filter(now time.Time) (queue.LeaseFilter, *int) {
	refused := new(int)
	if a == nil {
		return queue.LeaseFilter{}, refused
	}
	planned := map[string]int{}
	skips := shallowSkips
	a.mu.Lock()
	if now.Sub(a.lastDeep) >= deepEvery {
		skips, a.lastDeep = deepSkips, now
	}
	a.mu.Unlock()
	admit := func(domain string) bool {
		if domain == "" {
			return true // an entry from before due entries named domains
		}
		a.mu.Lock()
		n := a.busy[domain] + planned[domain]
		a.mu.Unlock()
		if n >= overAdmit*a.limit(domain) {
			*refused++
			return false
		}
		planned[domain]++
		return true
	}
	return queue.LeaseFilter{Admit: admit, MaxSkipped: skips, Tail: shallowSkips}, refused
}

// start counts a worker for domain; done must follow.
func (a *admission) start(domain string) {
	if a == nil {
		return
	}
	a.mu.Lock()
	a.busy[domain]++
	a.mu.Unlock()
}

func (a *admission) done(domain string) {
	if a == nil {
		return
	}
	a.mu.Lock()
	if a.busy[domain]--; a.busy[domain] <= 0 {
		delete(a.busy, domain)
	}
	a.mu.Unlock()
}
