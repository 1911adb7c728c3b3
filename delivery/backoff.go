package delivery

import (
	"math"
	"math/rand/v2"
	"time"
)

// Backoff is the retry schedule for temporary failures.
type Backoff struct {
	Initial     time.Duration
	Multiplier  float64
	MaxInterval time.Duration
	// Jitter spreads each interval uniformly by ± this fraction, so that
	// messages deferred together do not all come back together.
	Jitter float64
	// MaxLifetime is how long a recipient may stay queued before it fails.
	MaxLifetime time.Duration
}

// Interval is the wait after the attempt-th failed attempt (1-based):
// Initial × Multiplier^(attempt-1), capped at MaxInterval, then jittered.
// r returns a float in [0, 1); nil means math/rand/v2.
func (b Backoff) Interval(attempt int, r func() float64) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	d := float64(b.Initial) * math.Pow(b.Multiplier, float64(attempt-1))
	if d > float64(b.MaxInterval) || math.IsInf(d, 0) || math.IsNaN(d) {
		d = float64(b.MaxInterval)
	}
	if b.Jitter > 0 {
		if r == nil {
			r = rand.Float64
		}
		d *= 1 + b.Jitter*(2*r()-1)
	}
	return time.Duration(d)
}

// NextAttempt decides, after a temporary failure at now, when to try again.
// expired is true when the recipient has been queued for MaxLifetime: it
// must fail now. The last retry is placed no later than the expiry time,
// so the final attempt happens at the end of the lifetime, not after it.
func (b Backoff) NextAttempt(arrival, now time.Time, attempt int, r func() float64) (next time.Time, expired bool) {
	deadline := arrival.Add(b.MaxLifetime)
	if !now.Before(deadline) {
		return time.Time{}, true
	}
	next = now.Add(b.Interval(attempt, r))
	if next.After(deadline) {
		next = deadline
	}
	return next, false
}
