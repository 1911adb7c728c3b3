package queue

import (
	"fmt"

	"github.com/dgraph-io/badger/v4"
	"golang.org/x/sys/unix"
)

// statfsFree reports the bytes available to an unprivileged writer at dir.
func statfsFree(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// checkSpace refuses a write of n bytes that would leave less than the
// reserve free. Badger writes through mmapped, sparse files: on a full disk
// the first touch of an unbacked page is a SIGBUS that kills the process
// (dgraph-io/badger#1682), so we must stop well before that. New mail,
// leases and the operator changes that keep a message (hold, release,
// retry, flush) respect the reserve.
func (q *Queue) checkSpace(n int64) error {
	return q.checkFree(n, q.opts.MinFreeBytes, "a reserve")
}

// checkEmergencySpace refuses a write when less than the emergency margin
// (half the reserve) is free. Below the reserve nothing new is started,
// but the writes that record what already happened or that free space
// still go through down to this margin: the results of deliveries already
// made (so delivered mail is not delivered again), returned leases,
// deletes, and value-log GC.
func (q *Queue) checkEmergencySpace() error {
	return q.checkFree(0, q.emergencyBytes(), "an emergency margin")
}

// pruneBatch bounds the entries one pruning transaction deletes.
const pruneBatch = 1000

// pruneBatches deletes entries (old events, expired receipts) a batch at
// a time, each in its own transaction, and returns how many. next reads
// up to pruneBatch of them and returns how many it found and the writes
// that delete them; fewer than pruneBatch were the last. Deletes free
// space, so they are written down to the emergency margin.
func (q *Queue) pruneBatches(next func() (n int, deletes func(*badger.Txn) error, err error)) (int, error) {
	total := 0
	for {
		n, deletes, err := next()
		if err != nil || n == 0 {
			return total, err
		}
		if err := q.checkEmergencySpace(); err != nil {
			return total, err
		}
		if err := q.commit(deletes); err != nil {
			return total, err
		}
		total += n
		if n < pruneBatch {
			return total, nil
		}
	}
}

// emergencyBytes is the emergency margin: half the reserve.
func (q *Queue) emergencyBytes() int64 { return q.opts.MinFreeBytes / 2 }

func (q *Queue) checkFree(n, floor int64, what string) error {
	free, err := q.free(q.opts.Dir)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoSpace, err)
	}
	if free-n < floor {
		return fmt.Errorf("%w: %d bytes free, %d needed plus %s of %d", ErrNoSpace, free, n, what, floor)
	}
	return nil
}

// Writable reports whether a message of the largest size would be accepted
// now: enough free space, the last write succeeded, and no sync failed in
// the last minute. /readyz uses it, so a load balancer drains the relay a
// little before it must refuse mail.
func (q *Queue) Writable() error {
	if q.closed.Load() {
		return ErrClosed
	}
	if q.readOnly {
		return ErrReadOnly
	}
	if err := q.checkSpace(q.opts.MaxMessageBytes); err != nil {
		return err
	}
	if q.lastWriteFailed.Load() {
		return fmt.Errorf("queue: the last write to %s failed", q.opts.Dir)
	}
	if q.syncs.recent(q.now()) {
		return fmt.Errorf("%w (in %s, within the last %v)", ErrSyncFailed, q.opts.Dir, syncFailureHold)
	}
	return nil
}
