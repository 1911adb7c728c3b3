package queue

import (
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Group commit. Badger's SyncWrites syncs the write-ahead log once per
// transaction, not once per batch of concurrent transactions: its writer
// goroutine takes every pending transaction at once but still calls
// memTable.SyncWAL (an msync of the whole log) after each one, in turn.
// Under load every Enqueue and every Complete would then wait for the
// syncs of all the transactions ahead of it, and a second of mail would
// cost as many syncs as messages.
//
// So the writes that need no reads inside their transaction (a new
// message; the result of a delivery on a message its caller has leased)
// go through one goroutine that gathers every caller waiting at that
// moment into a single transaction: one commit, one sync, every caller
// answered with its result. Nothing returns before the sync that covers
// it, so the durability promise is unchanged.
//
// Commits are one at a time (badger has one writer), so every commit makes
// the writes that arrive meanwhile wait for it. A commit of the queue's own
// bookkeeping alone (a lease, a delivery's results, events: writes no
// client waits for) made the next new messages wait for one more commit
// before their 250. So while clients are sending, bookkeeping waits up to
// shareWait for a new message to share its commit; a new message never
// waits. With make bench's small workload that halves the commits and
// lowers the accept latency's p99 (docs/benchmarks.md, "p99 accept
// latency").

// maxGroup bounds the callers in one transaction; badger refuses a
// transaction above 15% of a memtable anyway (ErrTxnTooBig), and the group
// is then split.
const maxGroup = 256

// shareWait is how long bookkeeping waits for a new message to share its
// commit, while clientsWindow after the last new message's commit clients
// count as sending; otherwise (an idle relay draining its queue) it is
// committed at once. A commit takes about 1 to 5 ms on a disk.
const (
	shareWait     = time.Millisecond
	clientsWindow = 10 * time.Millisecond
)

// group is one caller's writes, applied all together or not at all.
type group struct {
	// writes only Sets and Deletes; it may run more than once (when a
	// group has to be rebuilt smaller) and must do the same each time.
	writes func(*badger.Txn) error
	// durable groups fail with ErrSyncFailed when badger logged a sync
	// failure during their commit: their caller is about to tell a client
	// that the write is on disk.
	durable bool
	done    chan error
}

// commit applies writes in a transaction shared with concurrent callers
// and returns once it is committed and synced. A sync failure that badger
// only logged is logged and fails the next readiness check, but not this
// write: it is applied, and the worst a crash can then do is repeat a
// delivery. Writes whose caller promises durability use commitDurable.
func (q *Queue) commit(writes func(*badger.Txn) error) error {
	return q.commitGroup(&group{writes: writes, done: make(chan error, 1)})
}

// commitDurable is commit for a write that a client is told is on disk
// (a new message's 250): a sync failure during it fails it with
// ErrSyncFailed, though the write may be applied.
func (q *Queue) commitDurable(writes func(*badger.Txn) error) error {
	return q.commitGroup(&group{writes: writes, durable: true, done: make(chan error, 1)})
}

func (q *Queue) commitGroup(g *group) error {
	if q.readOnly {
		return ErrReadOnly
	}
	q.commitMu.RLock()
	if q.commitsClosed {
		q.commitMu.RUnlock()
		return ErrClosed
	}
	q.commits <- g
	q.commitMu.RUnlock()
	return <-g.done
}

// stopCommits lets the groups already handed in be committed, refuses new
// ones, and waits for the commit loop to end.
func (q *Queue) stopCommits() {
	q.commitMu.Lock()
	q.commitsClosed = true
	q.commitMu.Unlock()
	close(q.commits) // no sender is left: they hold commitMu while sending
	<-q.commitsDone
}

// commitLoop gathers the groups waiting at each moment into transactions,
// until the channel is closed and drained.
func (q *Queue) commitLoop() {
	defer close(q.commitsDone)
	batch := make([]*group, 0, maxGroup)
	var lastDurable time.Time
	for first := range q.commits {
		batch = q.gather(append(batch[:0], first), nil)
		if !anyDurable(batch) && time.Since(lastDurable) < clientsWindow {
			t := time.NewTimer(shareWait)
			batch = q.gather(batch, t.C)
			t.Stop()
		}
		if anyDurable(batch) {
			lastDurable = time.Now()
		}
		q.commitGroups(batch)
	}
}

// gather adds to batch the groups waiting now. With a wait channel and no
// durable group in batch, it waits for one (then takes those waiting
// with it) until wait fires. It stops at maxGroup and when commits is
// closed.
func (q *Queue) gather(batch []*group, wait <-chan time.Time) []*group {
	if wait != nil && anyDurable(batch) {
		wait = nil
	}
	for len(batch) < maxGroup {
		g, ok := q.next(wait)
		if !ok {
			return batch
		}
		batch = append(batch, g)
		if g.durable {
			wait = nil
		}
	}
	return batch
}

// next takes the group waiting now or, with a wait channel, the first to
// come before wait fires. It reports false when there is none or commits
// is closed.
func (q *Queue) next(wait <-chan time.Time) (*group, bool) {
	select {
	case g, ok := <-q.commits:
		return g, ok
	default:
	}
	if wait == nil {
		return nil, false
	}
	select {
	case g, ok := <-q.commits:
		return g, ok
	case <-wait:
		return nil, false
	}
}

// anyDurable reports whether a client waits for a write of batch.
func anyDurable(batch []*group) bool {
	for _, g := range batch {
		if g.durable {
			return true
		}
	}
	return false
}

// commitGroups commits batch in as few transactions as fit, answering
// every group.
func (q *Queue) commitGroups(batch []*group) {
	for len(batch) > 0 {
		batch = batch[q.commitSome(batch):]
	}
}

// commitSome commits the longest prefix of batch that applies in one
// transaction, answers those callers and returns how many it took (at
// least one). A group that does not apply even alone (too big, or bad) is
// answered with its error alone.
func (q *Queue) commitSome(batch []*group) int {
	txn := q.db.NewTransaction(true)
	defer txn.Discard()
	for i, g := range batch {
		err := g.writes(txn)
		if err == nil {
			continue
		}
		if i == 0 {
			q.answer(batch[:1], err, true)
			return 1
		}
		// g left some of its writes in txn: commit the groups before it
		// in a fresh transaction (they applied once, so they will again),
		// and let g try next, first in its own.
		txn.Discard()
		return q.commitSome(batch[:i])
	}
	synced, err := q.commitTxn(txn)
	q.answer(batch, err, synced)
	return len(batch)
}

// commitTxn commits txn and reports whether badger logged a sync failure
// meanwhile (syncwatch.go); such a failure is logged here and makes the
// queue not writable for syncFailureHold.
func (q *Queue) commitTxn(txn *badger.Txn) (synced bool, err error) {
	mark := q.syncs.mark()
	if q.beforeCommit != nil {
		q.beforeCommit()
	}
	if err := txn.Commit(); err != nil {
		return true, err
	}
	if q.syncs.since(mark) {
		q.syncs.failed(q.now())
		q.log.Error("queue: badger could not sync its value log during a commit; new mail in it is refused (452 4.3.1) and the queue reports not writable for a minute")
		return false, nil
	}
	return true, nil
}

// answer tells each group the outcome of their commit.
func (q *Queue) answer(groups []*group, err error, synced bool) {
	q.lastWriteFailed.Store(err != nil)
	for _, g := range groups {
		if err == nil && !synced && g.durable {
			g.done <- ErrSyncFailed
			continue
		}
		g.done <- err
	}
}
