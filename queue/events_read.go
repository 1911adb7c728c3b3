package queue

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Events returns up to max records numbered above after, oldest first.
// After 0 starts at the oldest record still kept.
func (q *Queue) Events(after uint64, max int) ([]EventRecord, error) {
	if q.closed.Load() {
		return nil, ErrClosed // badger panics on a closed database
	}
	var out []EventRecord
	err := q.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: eventLogPrefix, PrefetchValues: true, PrefetchSize: min(max, 100)})
		defer it.Close()
		for it.Seek(eventLogKey(after + 1)); it.Valid() && len(out) < max; it.Next() {
			rec, err := readEventItem(it.Item())
			if err != nil {
				return err
			}
			out = append(out, rec)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	return out, nil
}

// EventsTagged is Events for the records with tag only.
func (q *Queue) EventsTagged(tag string, after uint64, max int) ([]EventRecord, error) {
	if q.closed.Load() {
		return nil, ErrClosed
	}
	prefix := append(append(bytes.Clone(eventTagPrefix), tag...), 0)
	var out []EventRecord
	err := q.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Seek(eventTagKey(tag, after+1)); it.Valid() && len(out) < max; it.Next() {
			k := it.Item().Key()
			if len(k) != len(prefix)+8 {
				continue // a longer tag that shares this one's start cannot match: its NUL comes later
			}
			item, err := txn.Get(eventLogKey(binary.BigEndian.Uint64(k[len(prefix):])))
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			rec, err := readEventItem(item)
			if err != nil {
				return err
			}
			out = append(out, rec)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read events of %q: %w", tag, err)
	}
	return out, nil
}

func readEventItem(item *badger.Item) (EventRecord, error) {
	seq := binary.BigEndian.Uint64(item.Key()[len(eventLogPrefix):])
	var rec EventRecord
	err := item.Value(func(v []byte) error {
		var err error
		rec, err = decodeEventRecord(seq, v)
		return err
	})
	return rec, err
}

// LastEventSeq is the number of the newest committed record (0: none yet).
// A consumer at this position has seen everything.
func (q *Queue) LastEventSeq() (uint64, error) {
	l, err := q.eventLog()
	if err != nil {
		return 0, err
	}
	return l.last.Load(), nil
}

// EventsChanged returns a channel that is closed when records are next
// appended. Take it before reading, so that no append is missed between
// the read and the wait.
func (q *Queue) EventsChanged() <-chan struct{} {
	l, err := q.eventLog()
	if err != nil {
		closed := make(chan struct{})
		close(closed) // the caller's read will report the error
		return closed
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changed
}

// EventCursor returns the position a consumer stored; ok is false when it
// stored none.
func (q *Queue) EventCursor(name string) (seq uint64, ok bool, err error) {
	if q.closed.Load() {
		return 0, false, ErrClosed
	}
	err = q.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(eventCursorKey(name))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			if len(v) != 8 {
				return fmt.Errorf("cursor of %d bytes", len(v))
			}
			seq, ok = binary.BigEndian.Uint64(v), true
			return nil
		})
	})
	if err != nil {
		return 0, false, fmt.Errorf("event cursor %q: %w", name, err)
	}
	return seq, ok, nil
}

// SetEventCursor stores a consumer's position durably.
func (q *Queue) SetEventCursor(name string, seq uint64) error {
	if name == "" || len(name) > maxCursorName {
		return fmt.Errorf("event cursor %q: want a name of 1 to %d bytes", name, maxCursorName)
	}
	// An acknowledgement records what happened: written down to the
	// emergency margin, like the results of deliveries.
	if err := q.checkEmergencySpace(); err != nil {
		return fmt.Errorf("event cursor %q: %w", name, err)
	}
	err := q.commit(func(txn *badger.Txn) error {
		return txn.Set(eventCursorKey(name), binary.BigEndian.AppendUint64(nil, seq))
	})
	if err != nil {
		return fmt.Errorf("event cursor %q: %w", name, err)
	}
	return nil
}

// PruneEvents deletes the records older than before, oldest first, and
// returns how many it deleted. Records are nearly in time order, so it
// stops at the first one that is not old enough.
func (q *Queue) PruneEvents(before time.Time) (int, error) {
	if _, err := q.eventLog(); err != nil {
		return 0, err
	}
	n, err := q.pruneBatches(func() (int, func(*badger.Txn) error, error) {
		old, err := q.oldEvents(before)
		return len(old), func(txn *badger.Txn) error {
			for _, r := range old {
				if err := txn.Delete(eventLogKey(r.Seq)); err != nil {
					return err
				}
				if r.Tag != "" {
					if err := txn.Delete(eventTagKey(r.Tag, r.Seq)); err != nil {
						return err
					}
				}
			}
			return txn.Set(eventPrunedKey, binary.BigEndian.AppendUint64(nil, old[len(old)-1].Seq))
		}, err
	})
	if err != nil {
		return n, fmt.Errorf("prune events: %w", err)
	}
	return n, nil
}

// oldEvents reads up to pruneBatch of the oldest records made before t.
func (q *Queue) oldEvents(t time.Time) ([]EventRecord, error) {
	var out []EventRecord
	err := q.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: eventLogPrefix, PrefetchValues: true, PrefetchSize: 100})
		defer it.Close()
		for it.Rewind(); it.Valid() && len(out) < pruneBatch; it.Next() {
			rec, err := readEventItem(it.Item())
			if err != nil {
				return err
			}
			if !rec.Time.Before(t) {
				return nil
			}
			rec.Data = nil
			out = append(out, rec)
		}
		return nil
	})
	return out, err
}
