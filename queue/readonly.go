package queue

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"golang.org/x/sys/unix"
)

// Errors of OpenReadOnly.
var (
	// ErrLocked means another process (a running mxout serve) has the
	// queue open; badger allows a read-only open only alongside other
	// read-only opens.
	ErrLocked = errors.New("queue: the data directory is in use by another process")
	// ErrNeedsRecovery means the queue was not closed cleanly (the process
	// was killed or crashed): its write-ahead log must be replayed, which
	// only a read-write Open does.
	ErrNeedsRecovery = errors.New("queue: not closed cleanly; a read-write open (mxout serve) recovers it")
)

// OpenReadOnly opens an existing queue for inspection only: Get, List,
// ListPage, StateOf, Stats, Body and Headers work; everything that writes
// returns ErrReadOnly. It takes badger's shared directory lock, so it fails
// with ErrLocked while a read-write Open holds the queue, and with
// ErrNeedsRecovery when the queue was not closed cleanly. No garbage
// collection runs. Only Dir, the badger sizes, Logger and Now of opts are
// used.
func OpenReadOnly(opts Options) (*Queue, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if _, err := os.Stat(opts.Dir); err != nil {
		return nil, fmt.Errorf("open queue %s read-only: %w", opts.Dir, err)
	}
	if err := probeLock(opts.Dir); err != nil {
		return nil, fmt.Errorf("open queue %s read-only: %w", opts.Dir, err)
	}
	syncs := &syncWatch{}
	db, err := badger.Open(badgerOptions(opts, syncs).WithReadOnly(true))
	if err != nil {
		// Badger formats its causes with %+v rather than wrapping them, so
		// only the text tells a replay-needed log or a lost lock race apart.
		switch {
		case strings.Contains(err.Error(), badger.ErrTruncateNeeded.Error()):
			err = ErrNeedsRecovery
		case probeLock(opts.Dir) != nil:
			err = ErrLocked
		}
		return nil, fmt.Errorf("open queue %s read-only: %w", opts.Dir, err)
	}
	q := newQueue(db, opts, syncs)
	q.readOnly = true
	close(q.gcDone)      // no GC loop in read-only mode
	close(q.commitsDone) // nor commit loop
	if err := q.rebuild(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open queue %s read-only: %w", opts.Dir, err)
	}
	return q, nil
}

// ReadOnly reports whether the queue was opened with OpenReadOnly.
func (q *Queue) ReadOnly() bool { return q.readOnly }

// probeLock takes and drops the shared flock that badger's read-only
// open takes, to tell "another process has it open" apart from other
// failures: a read-write badger holds the lock exclusively.
func probeLock(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return ErrLocked
		}
		return fmt.Errorf("lock %s: %w", dir, err)
	}
	return unix.Flock(int(f.Fd()), unix.LOCK_UN)
}
