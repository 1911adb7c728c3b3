package delivery

import (
	"context"
	"sync"
)

// domainLimiter caps concurrent transactions per destination domain.
type domainLimiter struct {
	max   int
	mu    sync.Mutex
	slots map[string]chan struct{}
	users map[string]int
}

func newDomainLimiter(max int) *domainLimiter {
	return &domainLimiter{max: max, slots: map[string]chan struct{}{}, users: map[string]int{}}
}

// acquire waits for a slot for domain and returns its release function.
func (l *domainLimiter) acquire(ctx context.Context, domain string) (func(), error) {
	l.mu.Lock()
	ch, ok := l.slots[domain]
	if !ok {
		ch = make(chan struct{}, l.max)
		l.slots[domain] = ch
	}
	l.users[domain]++
	l.mu.Unlock()
	select {
	case ch <- struct{}{}:
		return func() { <-ch; l.done(domain) }, nil
	case <-ctx.Done():
		l.done(domain)
		return nil, ctx.Err()
	}
}

// done forgets a domain's semaphore once nobody holds or waits for it.
func (l *domainLimiter) done(domain string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.users[domain]--
	if l.users[domain] == 0 {
		delete(l.users, domain)
		delete(l.slots, domain)
	}
}
