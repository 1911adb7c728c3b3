package queue

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// The event log: delivery events (package events says what they hold)
// kept in commit order for webhooks and the feed. Each record gets a
// sequence number when its transaction is built, in the commit goroutine,
// so numbers grow in commit order: a reader that has seen number n has
// seen every committed record below n. A transaction that fails leaves a
// gap; readers skip it.
//
// Keys, all under prefixEvents:
//
//	el<seq>             record; value: time (8 bytes, Unix ns), tag length (2), tag, data
//	et<tag>\x00<seq>    index of a tag's records (the owner: an API key or SMTP user); no value
//	ec<name>            a consumer's position (a webhook endpoint): 8-byte seq
//	ep                  the highest sequence number ever pruned, so that
//	                    numbering never restarts below a position held by
//	                    a consumer or an application
const prefixEvents = 'e'

var (
	eventLogPrefix    = []byte{prefixEvents, 'l'}
	eventTagPrefix    = []byte{prefixEvents, 't'}
	eventCursorPrefix = []byte{prefixEvents, 'c'}
	eventPrunedKey    = []byte{prefixEvents, 'p'}
)

// Bounds of what the log stores.
const (
	// MaxEventTag bounds a record's tag (an owner such as "api:<name>").
	MaxEventTag = 512
	// maxCursorName bounds a consumer's name.
	maxCursorName = 256
)

// EventRecord is one event as the queue keeps it.
type EventRecord struct {
	// Seq is the record's place in the log, set when it is committed.
	Seq uint64
	// Time is when the event happened; retention counts from it.
	Time time.Time
	// Tag, when not empty, indexes the record (EventsTagged); no NUL byte.
	Tag string
	// Data is opaque to the queue.
	Data []byte
}

// eventLog is the log's state in memory, read from disk on first use.
type eventLog struct {
	once    sync.Once
	initErr error
	next    atomic.Uint64 // the last number handed out (commit goroutine)
	last    atomic.Uint64 // the highest committed number
	mu      sync.Mutex
	changed chan struct{} // closed and replaced after each append
}

func eventLogKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(bytes.Clone(eventLogPrefix), seq)
}

func eventTagKey(tag string, seq uint64) []byte {
	k := append(append(bytes.Clone(eventTagPrefix), tag...), 0)
	return binary.BigEndian.AppendUint64(k, seq)
}

func eventCursorKey(name string) []byte { return append(bytes.Clone(eventCursorPrefix), name...) }

// eventLog returns the log, loading its numbering on first use.
func (q *Queue) eventLog() (*eventLog, error) {
	if q.closed.Load() {
		return nil, ErrClosed
	}
	l := &q.evlog
	l.once.Do(func() {
		l.changed = make(chan struct{})
		var last uint64
		l.initErr = q.db.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: eventLogPrefix, Reverse: true})
			defer it.Close()
			// In reverse, Seek finds the greatest key at or below this one,
			// which is above every record key.
			it.Seek(append(bytes.Clone(eventLogPrefix), bytes.Repeat([]byte{0xff}, 9)...))
			if it.Valid() {
				last = binary.BigEndian.Uint64(it.Item().Key()[len(eventLogPrefix):])
			}
			item, err := txn.Get(eventPrunedKey)
			if errors.Is(err, badger.ErrKeyNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			return item.Value(func(v []byte) error {
				if len(v) == 8 {
					last = max(last, binary.BigEndian.Uint64(v))
				}
				return nil
			})
		})
		if l.initErr != nil {
			l.initErr = fmt.Errorf("event log: %w", l.initErr)
		}
		l.next.Store(last)
		l.last.Store(last)
	})
	return l, l.initErr
}

// AppendEvents stores recs in one durable commit and sets their Seq. It
// returns once they are synced.
func (q *Queue) AppendEvents(ctx context.Context, recs []EventRecord) error {
	if q.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("append events: %w", err)
	}
	l, err := q.eventLog()
	if err != nil {
		return err
	}
	size, err := eventsSize(recs)
	if err != nil {
		return fmt.Errorf("append events: %w", err)
	}
	if err := q.checkSpace(size); err != nil {
		return err
	}
	if err := q.commit(func(txn *badger.Txn) error { return l.write(txn, recs) }); err != nil {
		return fmt.Errorf("append events: %w", err)
	}
	l.committed(recs)
	return nil
}

// eventsSize checks the records' tags and estimates their size on disk.
func eventsSize(recs []EventRecord) (int64, error) {
	var size int64
	for _, r := range recs {
		if len(r.Tag) > MaxEventTag || strings.IndexByte(r.Tag, 0) >= 0 {
			return 0, fmt.Errorf("event tag %.40q: want at most %d bytes without NUL", r.Tag, MaxEventTag)
		}
		size += int64(len(r.Data) + len(r.Tag) + 64)
	}
	return size, nil
}

// write numbers recs and adds them to txn. It runs in the commit
// goroutine, so numbers follow commit order; run again (a rebuilt group),
// it numbers them anew.
func (l *eventLog) write(txn *badger.Txn, recs []EventRecord) error {
	for i := range recs {
		r := &recs[i]
		r.Seq = l.next.Add(1)
		v := make([]byte, 0, 10+len(r.Tag)+len(r.Data))
		v = binary.BigEndian.AppendUint64(v, uint64(r.Time.UnixNano()))
		v = binary.BigEndian.AppendUint16(v, uint16(len(r.Tag)))
		v = append(append(v, r.Tag...), r.Data...)
		if err := txn.Set(eventLogKey(r.Seq), v); err != nil {
			return err
		}
		if r.Tag != "" {
			if err := txn.Set(eventTagKey(r.Tag, r.Seq), nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// withEvents adds recs to a transaction's writes.
func withEvents(writes func(*badger.Txn) error, l *eventLog, recs []EventRecord) func(*badger.Txn) error {
	return func(txn *badger.Txn) error {
		if err := writes(txn); err != nil {
			return err
		}
		return l.write(txn, recs)
	}
}

// committed records that recs are on disk and wakes the readers.
func (l *eventLog) committed(recs []EventRecord) {
	for _, r := range recs {
		for {
			old := l.last.Load()
			if r.Seq <= old || l.last.CompareAndSwap(old, r.Seq) {
				break
			}
		}
	}
	l.mu.Lock()
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

func decodeEventRecord(seq uint64, v []byte) (EventRecord, error) {
	if len(v) < 10 {
		return EventRecord{}, fmt.Errorf("event %d: record of %d bytes", seq, len(v))
	}
	n := int(binary.BigEndian.Uint16(v[8:10]))
	if len(v) < 10+n {
		return EventRecord{}, fmt.Errorf("event %d: tag runs past the record", seq)
	}
	return EventRecord{
		Seq:  seq,
		Time: time.Unix(0, int64(binary.BigEndian.Uint64(v[:8]))),
		Tag:  string(v[10 : 10+n]),
		Data: bytes.Clone(v[10+n:]),
	}, nil
}
