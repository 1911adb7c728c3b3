package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// Errors a caller must tell apart.
var (
	// ErrNoSpace means free disk space is below the reserve; the message was
	// not stored. Submitters answer 452 4.3.1.
	ErrNoSpace = errors.New("queue: not enough free disk space")
	// ErrNotFound means no message has that ID.
	ErrNotFound = errors.New("queue: no such message")
	// ErrLeased means the message is being delivered right now.
	ErrLeased = errors.New("queue: message is being delivered")
	// ErrClosed means the queue was closed.
	ErrClosed = errors.New("queue: closed")
	// ErrReadOnly means the queue was opened with OpenReadOnly.
	ErrReadOnly = errors.New("queue: opened read-only")
)

// Options configures a Queue. cmd/mxout fills every field from configs.
type Options struct {
	Dir string
	// MinFreeBytes is the free-space reserve checked before each enqueue.
	MinFreeBytes int64
	// MaxMessageBytes is the largest body Enqueue will be given; Writable
	// reports not writable when one such message would not fit.
	MaxMessageBytes int64
	// LeaseDuration is how far Lease pushes a message's due time on disk.
	LeaseDuration time.Duration
	// GCInterval is how often the value log is garbage-collected; 0 disables.
	GCInterval time.Duration

	MemtableBytes     int64
	NumMemtables      int
	BlockCacheBytes   int64
	IndexCacheBytes   int64
	ValueLogFileBytes int64
	ValueThreshold    int64

	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// FreeSpace reports free bytes at Dir; nil means statfs. Tests inject it.
	FreeSpace func(dir string) (int64, error)
}

// Queue is the durable queue. Its methods are safe for concurrent use.
type Queue struct {
	db   *badger.DB
	opts Options
	log  *slog.Logger
	now  func() time.Time
	free func(string) (int64, error)

	// wake is signalled (without blocking) when work may have become due.
	wake chan struct{}

	mu     sync.Mutex
	leased map[ID]kind // messages owned by a delivery or an admin operation
	// records holds the record of each message leased for delivery as
	// last written, so that its lessee's writes (Record, Complete) need
	// not read it back: while the lease holds, no one else writes it.
	records map[ID]*Message
	// scanning are the lease scans running now (duescan.go).
	scanning map[*dueScan]struct{}

	// due and arrivals tell scans of the due index and of the message
	// records where their live entries begin; oldestMu keeps the scans
	// for the oldest message from overlapping.
	due      *indexFloor
	sweep    sweepMark // where the last filtered lease scan's sweep stopped (duescan.go)
	arrivals *indexFloor
	oldestMu sync.Mutex

	evlog eventLog // events.go: numbering and wake-ups of the event log

	ready, deferred, held, bytes atomic.Int64
	// quarantined counts the records in quarantine; quarantinedTotal
	// those moved there since Open.
	quarantined, quarantinedTotal atomic.Int64
	lastWriteFailed               atomic.Bool
	// syncs counts the sync failures badger only logs (syncwatch.go).
	syncs *syncWatch
	// beforeCommit, when set (by tests), runs just before each commit.
	beforeCommit func()

	stopGC chan struct{}
	gcDone chan struct{}
	// gcKick asks the GC loop for an early run after large deletes;
	// freed counts body bytes deleted since the last run.
	gcKick chan struct{}
	freed  atomic.Int64
	gcRuns atomic.Int64
	// gcMu guards lastFlatten, the last compaction to the bottom level.
	gcMu        sync.Mutex
	lastFlatten time.Time

	closed   atomic.Bool
	readOnly bool

	// Group commit (commit.go): callers hand their writes to commitLoop.
	commits       chan *group
	commitsDone   chan struct{}
	commitMu      sync.RWMutex // held to send on commits; Close takes it to close commits
	commitsClosed bool
}

// Open opens (or creates) the queue in opts.Dir and rebuilds the in-memory
// counters from the due index. Every message that was leased when the
// process died is due again at the time its lease pushed it to.
func Open(opts Options) (*Queue, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.LeaseDuration <= 0 {
		return nil, fmt.Errorf("open queue %s: lease duration must be positive", opts.Dir)
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("open queue %s: %w", opts.Dir, err)
	}
	syncs := &syncWatch{}
	db, err := badger.Open(badgerOptions(opts, syncs).WithSyncWrites(true).WithCompactL0OnClose(true))
	if err != nil {
		return nil, fmt.Errorf("open queue %s: %w", opts.Dir, err)
	}
	q := newQueue(db, opts, syncs)
	if err := q.rebuild(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open queue %s: %w", opts.Dir, err)
	}
	go q.gcLoop()
	go q.commitLoop()
	return q, nil
}

// badgerOptions are the storage settings shared by Open and OpenReadOnly.
// Badger's error lines go to syncs too.
func badgerOptions(opts Options, syncs *syncWatch) badger.Options {
	bo := badgerDefaults(opts, syncs)
	if opts.BlockCacheBytes <= 0 {
		// Badger panics when compressed tables have no block cache to
		// decompress into; without a cache, store tables uncompressed.
		bo = bo.WithCompression(options.None)
	}
	return bo
}

func badgerDefaults(opts Options, syncs *syncWatch) badger.Options {
	return badger.DefaultOptions(opts.Dir).
		WithLogger(badgerLogger{l: opts.Logger.With("component", "badger"), syncs: syncs}).
		WithMemTableSize(opts.MemtableBytes).
		WithNumMemtables(opts.NumMemtables).
		WithNumLevelZeroTables(max(opts.NumMemtables, 2)).
		WithNumLevelZeroTablesStall(max(opts.NumMemtables, 2) * 3).
		WithBlockCacheSize(opts.BlockCacheBytes).
		WithIndexCacheSize(opts.IndexCacheBytes).
		WithValueLogFileSize(opts.ValueLogFileBytes).
		WithValueThreshold(opts.ValueThreshold).
		WithNumCompactors(2)
}

func newQueue(db *badger.DB, opts Options, syncs *syncWatch) *Queue {
	q := &Queue{
		db:       db,
		syncs:    syncs,
		opts:     opts,
		log:      opts.Logger,
		now:      opts.Now,
		free:     opts.FreeSpace,
		wake:     make(chan struct{}, 1),
		leased:   make(map[ID]kind),
		records:  make(map[ID]*Message),
		scanning: make(map[*dueScan]struct{}),
		due:      newIndexFloor(),
		arrivals: newIndexFloor(),
		stopGC:   make(chan struct{}),
		gcDone:   make(chan struct{}),
		gcKick:   make(chan struct{}, 1),

		commits:     make(chan *group, maxGroup),
		commitsDone: make(chan struct{}),
	}
	if q.now == nil {
		q.now = time.Now
	}
	if q.free == nil {
		q.free = statfsFree
	}
	return q
}

// rebuild recounts ready, deferred, held and quarantined messages from
// the indexes.
func (q *Queue) rebuild() error {
	return q.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixDue}, PrefetchValues: true, PrefetchSize: 256})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			err := it.Item().Value(func(v []byte) error {
				k, size, _, ok := parseDueValue(v)
				if !ok {
					q.log.Warn("queue: skipping malformed due entry", "key", fmt.Sprintf("%x", it.Item().Key()))
					return nil
				}
				q.counter(k).Add(1)
				q.bytes.Add(size)
				return nil
			})
			if err != nil {
				return fmt.Errorf("rebuild: %w", err)
			}
		}
		hit := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixHeld}, PrefetchValues: true})
		defer hit.Close()
		for hit.Rewind(); hit.Valid(); hit.Next() {
			err := hit.Item().Value(func(v []byte) error {
				q.held.Add(1)
				q.bytes.Add(parseSizeValue(v))
				return nil
			})
			if err != nil {
				return fmt.Errorf("rebuild: %w", err)
			}
		}
		q.quarantined.Store(int64(countPrefix(txn, prefixQuarantine)))
		return nil
	})
}

func (q *Queue) counter(k kind) *atomic.Int64 {
	if k == kindDeferred {
		return &q.deferred
	}
	return &q.ready
}

// Close stops garbage collection and closes the database. Leases still held
// are simply forgotten: those messages are due again after their lease.
func (q *Queue) Close() error {
	if q.closed.Swap(true) {
		return nil
	}
	close(q.stopGC)
	<-q.gcDone
	q.stopCommits()
	if err := q.db.Close(); err != nil {
		return fmt.Errorf("close queue: %w", err)
	}
	return nil
}

// Enqueue stores a new message and returns its ID once it is synced to
// disk. id is the ID the caller already put in the body's headers (from
// NewID); an empty id makes a new one. The body must already carry every
// header the relay adds. On ErrNoSpace or any storage error nothing is
// stored.
func (q *Queue) Enqueue(ctx context.Context, id ID, env Envelope, body []byte) (ID, error) {
	return q.enqueue(ctx, id, env, body, nil)
}

// enqueue is Enqueue, storing rc (when not nil) in the same transaction.
func (q *Queue) enqueue(ctx context.Context, id ID, env Envelope, body []byte, rc *Receipt) (ID, error) {
	if q.closed.Load() {
		return "", ErrClosed
	}
	if q.readOnly {
		return "", ErrReadOnly
	}
	if len(env.To) == 0 {
		return "", errors.New("enqueue: no recipients")
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("enqueue: %w", err)
	}
	if err := q.checkSpace(int64(len(body))); err != nil {
		return "", err
	}
	now := q.now()
	if id == "" {
		id = NewID(now)
	} else if _, err := ParseID(string(id)); err != nil {
		return "", fmt.Errorf("enqueue: %w", err)
	}
	m := &Message{ID: id, Envelope: env, Arrival: now, Size: int64(len(body)), Due: now}
	m.Recipients = make([]Recipient, len(env.To))
	for i, p := range env.To {
		m.Recipients[i] = Recipient{RecipientParams: p, NextAttempt: now}
	}
	rec, err := encodeMessage(m)
	if err != nil {
		return "", err
	}
	receipt, err := rc.write()
	if err != nil {
		return "", fmt.Errorf("enqueue: %w", err)
	}
	dueDone, arrivalDone := q.due.note(m.Due), q.arrivals.note(m.ID.Time())
	defer dueDone()
	defer arrivalDone()
	err = q.commitDurable(func(txn *badger.Txn) error {
		if err := txn.Set(messageKey(m.ID), rec); err != nil {
			return err
		}
		if err := txn.Set(bodyKey(m.ID), body); err != nil {
			return err
		}
		if err := receipt(txn); err != nil {
			return err
		}
		return txn.Set(dueKey(m.Due, m.ID), dueValue(m))
	})
	if errors.Is(err, ErrSyncFailed) && !q.withdraw(m, rc) {
		q.ready.Add(1) // stored after all, and maybe delivered: a retry of the client makes a duplicate
		q.bytes.Add(m.Size)
	}
	if err != nil {
		return "", fmt.Errorf("enqueue %s: %w", m.ID, err)
	}
	q.ready.Add(1)
	q.bytes.Add(m.Size)
	q.Notify()
	return m.ID, nil
}

// logRemoved writes the last log line about a message, once it has left
// the queue (Postfix's qmgr "removed"): why is "final" (every recipient
// delivered or failed) or "deleted" (by the operator).
func (q *Queue) logRemoved(id ID, why string) {
	q.log.Info("removed", "queue_id", string(id), "reason", why)
}

// withdraw deletes a new message that was committed but not accepted (its
// value log may not be on disk), so that the client's retry does not make
// a duplicate. It cannot once a delivery has taken it; it reports whether
// the message is gone.
func (q *Queue) withdraw(m *Message, rc *Receipt) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, busy := q.leased[m.ID]; busy {
		return false
	}
	err := q.checkEmergencySpace()
	if err == nil {
		err = q.update(func(txn *badger.Txn) error {
			if err := txn.Delete(dueKey(m.Due, m.ID)); err != nil {
				return err
			}
			if rc != nil { // no answer may be kept for a message that is gone
				if err := txn.Delete(receiptKey(rc.Key)); err != nil {
					return err
				}
			}
			return deleteMessage(txn, m.ID)
		})
	}
	if err != nil {
		q.log.Error("queue: could not withdraw a message refused after a failed sync; it stays queued", "queue_id", string(m.ID), "err", err)
		return false
	}
	q.moved(m.ID)
	return true
}

// update runs fn in a read-write transaction and remembers whether its
// commit failed, for Writable. An error of fn writes nothing and says
// nothing about the disk (a message that is gone, say). A sync failure
// that badger only logged does not fail it (see commit).
func (q *Queue) update(fn func(*badger.Txn) error) error {
	if q.readOnly {
		return ErrReadOnly
	}
	txn := q.db.NewTransaction(true)
	defer txn.Discard()
	if err := fn(txn); err != nil {
		return err
	}
	_, err := q.commitTxn(txn)
	q.lastWriteFailed.Store(err != nil)
	return err
}

// Body returns the stored message body.
func (q *Queue) Body(id ID) ([]byte, error) {
	var body []byte
	err := q.db.View(func(txn *badger.Txn) error {
		return readValue(txn, bodyKey(id), func(v []byte) error {
			body = bytes.Clone(v)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("body of %s: %w", id, err)
	}
	return body, nil
}

// Notify wakes the scheduler waiting on Wake.
func (q *Queue) Notify() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Wake is signalled when new work may be due (enqueue, release, retry).
func (q *Queue) Wake() <-chan struct{} { return q.wake }

// Stats is a snapshot of the queue's size, exact at the time of the call.
type Stats struct {
	Ready, Deferred, Inflight, Held int64
	// Bytes is the total size of the queued bodies.
	Bytes int64
	// Oldest is the arrival time of the oldest queued message; zero if empty.
	Oldest time.Time
	// Quarantined counts the messages whose record was unreadable and was
	// moved aside (not in the other counts); QuarantinedTotal those moved
	// aside since the queue was opened.
	Quarantined, QuarantinedTotal int64
}

// Stats reports the queue's counts by state. Leased messages count as
// in-flight and not in their stored state.
func (q *Queue) Stats() Stats {
	q.mu.Lock()
	var inReady, inDeferred int64
	for _, k := range q.leased {
		if k == kindDeferred {
			inDeferred++
		} else {
			inReady++
		}
	}
	s := Stats{
		Ready:    q.ready.Load() - inReady,
		Deferred: q.deferred.Load() - inDeferred,
		Inflight: inReady + inDeferred,
		Held:     q.held.Load(),
		Bytes:    q.bytes.Load(),

		Quarantined:      q.quarantined.Load(),
		QuarantinedTotal: q.quarantinedTotal.Load(),
	}
	q.mu.Unlock()
	if !q.closed.Load() {
		s.Oldest = q.oldest()
	}
	return s
}

// oldest seeks to the first message record (IDs sort by arrival time),
// starting where the live records begin.
func (q *Queue) oldest() time.Time {
	q.oldestMu.Lock()
	defer q.oldestMu.Unlock()
	start, bound := q.arrivals.begin()
	var t time.Time
	err := q.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixMessage}})
		defer it.Close()
		it.Seek(messageKeyAt(start))
		if it.Valid() {
			t = ID(it.Item().Key()[1:]).Time()
			if t.IsZero() {
				t = start // a malformed key: do not move the floor past it
			}
		}
		return nil
	})
	if err != nil {
		q.arrivals.end(start, bound)
		return time.Time{}
	}
	q.arrivals.end(t, bound)
	return t
}
