package delivery

import (
	"sync"
	"time"

	"github.com/mxout/mxout/queue"
)

// maxRateWait is the longest a worker sleeps for its turn. A longer wait
// postpones the recipients in the queue to their turn instead, so that a
// slow destination does not hold workers that other mail could use.
const maxRateWait = time.Second

// maxTickets bounds the remembered turns; beyond it, old ones are dropped.
const maxTickets = 4096

// rateLimiter spaces transactions per destination. Each transaction
// reserves the next free turn (a virtual schedule, as in GCRA); a message
// postponed to its turn keeps it as a ticket, so that it is not sent to
// the back of the line again when it comes back.
type rateLimiter struct {
	mu      sync.Mutex
	next    map[string]time.Time // per destination: the next free turn
	tickets map[ticket]time.Time
}

type ticket struct {
	id   queue.ID
	dest string
}

func newRateLimiter() *rateLimiter {
	return &rateLimiter{next: map[string]time.Time{}, tickets: map[ticket]time.Time{}}
}

// reserve returns the time at which message id may start a transaction to
// dest: its ticket if it holds one, else the next free turn, which it
// takes. Only configured domains have a rate, so the map stays small.
func (l *rateLimiter) reserve(id queue.ID, dest string, every time.Duration, now time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := ticket{id, dest}
	if t, ok := l.tickets[k]; ok {
		delete(l.tickets, k)
		return t
	}
	t := l.next[dest]
	if t.Before(now) {
		t = now
	}
	l.next[dest] = t.Add(every)
	return t
}

// hold remembers that message id was postponed to its turn t at dest.
func (l *rateLimiter) hold(id queue.ID, dest string, t, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.tickets) >= maxTickets {
		for k, at := range l.tickets {
			if at.Before(now.Add(-time.Hour)) || len(l.tickets) >= maxTickets {
				delete(l.tickets, k) // deleted messages never come back for theirs
			}
		}
	}
	l.tickets[ticket{id, dest}] = t
}
