package delivery

import "time"

// Lease retries. When the queue cannot lease (its disk is below the
// reserve, or a storage error), trying again at once would only repeat
// the error: the scheduler used to retry every millisecond and log each
// failure. It waits instead, twice as long after each failure in a row,
// from leaseRetryMin up to leaseRetryMax, and logs the first failure of a
// run and the recovery (the others at debug level).
const (
	leaseRetryMin = 10 * time.Millisecond
	leaseRetryMax = time.Second
)

// leaseRetry counts the lease failures in a row. Only the scheduler's
// goroutine uses it.
type leaseRetry struct {
	failures int
}

// failed records a failure and returns how long to wait before the next
// lease.
func (r *leaseRetry) failed() time.Duration {
	wait := leaseRetryMax
	if r.failures < 7 { // 10 ms << 7 is past the cap
		wait = min(leaseRetryMin<<r.failures, leaseRetryMax)
	}
	r.failures++
	return wait
}

// succeeded ends a run of failures and returns how long it was.
func (r *leaseRetry) succeeded() int {
	n := r.failures
	r.failures = 0
	return n
}
