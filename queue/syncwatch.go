package queue

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrSyncFailed means badger reported, only in its log, that it could not
// sync the value log while the message was being committed: the message
// may not be on disk, so it was not accepted. Submitters answer 452 4.3.1.
var ErrSyncFailed = errors.New("queue: the value log could not be synced to disk")

// syncWatch catches the sync failures that badger logs instead of
// returning. With SyncWrites, badger (v4.9.6, value.go valueLog.write)
// writes a batch's large values (message bodies) to the value log and
// syncs it in a deferred call that only logs a failure ("Error while
// curlf sync: ..."); it then syncs the memtable's write-ahead log, whose
// error it does return, and Commit reports success. So a body could be
// lost in a crash after its 250.
//
// The log call happens in badger's write goroutine before the batch's
// transactions are told they are done, so a commit that compares the
// count of failures seen before it began with the count after Commit
// returned cannot miss a failure of its own batch. A failure of another
// batch in that window fails it too, which costs at worst a retry.
type syncWatch struct {
	failures atomic.Uint64

	mu sync.Mutex
	// last is when a commit last saw a failure (noted by failed).
	last time.Time
}

// syncFailureHold is how long the queue reports itself not writable after
// a commit saw a sync failure: long enough for a load balancer to move
// traffic away from a failing disk, short enough to come back by itself
// after a transient error.
const syncFailureHold = time.Minute

// failed records that a commit saw a sync failure at now.
func (w *syncWatch) failed(now time.Time) {
	w.mu.Lock()
	w.last = now
	w.mu.Unlock()
}

// recent reports whether a commit saw a sync failure within
// syncFailureHold before now.
func (w *syncWatch) recent(now time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return !w.last.IsZero() && now.Sub(w.last) < syncFailureHold
}

// mark is the number of sync failures seen so far.
func (w *syncWatch) mark() uint64 { return w.failures.Load() }

// since reports whether a sync failure was seen after mark.
func (w *syncWatch) since(mark uint64) bool { return w.failures.Load() != mark }

// observe is called with each error or warning line badger logs.
func (w *syncWatch) observe(line string) {
	if isSyncFailure(line) {
		w.failures.Add(1)
	}
}

// isSyncFailure reports whether a badger error line is about a failed
// sync. Only "Error while curlf sync" is known to be swallowed; any other
// line that mentions a sync counts too, so that a rewording in a badger
// upgrade errs towards refusing mail rather than losing it.
func isSyncFailure(line string) bool {
	return strings.Contains(strings.ToLower(line), "sync")
}
