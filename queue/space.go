package queue

import (
	"fmt"

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
// (dgraph-io/badger#1682), so we must stop well before that.
func (q *Queue) checkSpace(n int64) error {
	free, err := q.free(q.opts.Dir)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoSpace, err)
	}
	if free-n < q.opts.MinFreeBytes {
		return fmt.Errorf("%w: %d bytes free, %d needed plus a reserve of %d", ErrNoSpace, free, n, q.opts.MinFreeBytes)
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
