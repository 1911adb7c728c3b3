package queue

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Get returns a stored message, or a quarantined one (with Quarantine
// set and what could be read of its record).
func (q *Queue) Get(id ID) (*Message, error) {
	var m *Message
	err := q.db.View(func(txn *badger.Txn) error {
		var err error
		m, err = getMessage(txn, id)
		if errors.Is(err, ErrNotFound) {
			m, err = getQuarantined(txn, id)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", id, err)
	}
	return m, nil
}

// Leased reports whether a delivery holds the message now.
func (q *Queue) Leased(id ID) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	_, ok := q.leased[id]
	return ok
}

// ListOptions filters and pages List. Zero values mean no filter.
type ListOptions struct {
	// After continues a listing after this ID (the previous page's last).
	After ID
	// Limit caps the page size; 0 means 100.
	Limit int
	// State selects messages in that state only (StateOf): ready,
	// deferred, inflight, held, or quarantined (unreadable records moved
	// aside, listed from the quarantine).
	State string
	// Sender matches the envelope sender, case-insensitively; "<>" is the null sender.
	Sender string
	// Domain matches any recipient domain.
	Domain string
	// OlderThan keeps messages that arrived before now minus this.
	OlderThan time.Duration
	// MaxScan bounds how many message records one ListPage call reads, so
	// that a filter matching little of a large queue still answers
	// quickly; the page then ends early and Page.Next resumes the scan.
	// 0 means no bound.
	MaxScan int
}

// List returns messages in arrival order (their ID order) that match opts,
// and whether more may follow. It reads message records, never bodies.
func (q *Queue) List(opts ListOptions) ([]*Message, bool, error) {
	p, err := q.ListPage(opts)
	if err != nil {
		return nil, false, err
	}
	return p.Messages, p.Next != "", nil
}

// StateOf names a message's state as the metrics and admin API do:
// quarantined, held, inflight, deferred or ready.
func (q *Queue) StateOf(m *Message) string {
	switch {
	case m.Quarantine != nil:
		return "quarantined"
	case m.Held:
		return "held"
	case q.Leased(m.ID):
		return "inflight"
	case m.Deferred():
		return "deferred"
	default:
		return "ready"
	}
}

func (q *Queue) matches(m *Message, opts ListOptions) bool {
	if opts.State != "" && q.StateOf(m) != opts.State {
		return false
	}
	if opts.Sender != "" {
		from := m.From
		if from == "" {
			from = "<>"
		}
		if !strings.EqualFold(from, opts.Sender) {
			return false
		}
	}
	if opts.Domain != "" {
		for _, r := range m.Recipients {
			if Domain(r.Addr) == strings.ToLower(opts.Domain) {
				return true
			}
		}
		return false
	}
	return true
}

// Hold stops delivery of a message until Release.
func (q *Queue) Hold(id ID) error {
	return q.adminUpdate(id, "hold", keeps, func(txn *badger.Txn, m *Message, d *delta) error {
		if m.Held {
			return nil
		}
		if err := txn.Delete(dueKey(m.Due, m.ID)); err != nil {
			return err
		}
		d.add(kindOf(m), -1)
		d.held++
		m.Held, m.Due = true, time.Time{}
		if err := txn.Set(heldKey(m.ID), sizeValue(m.Size)); err != nil {
			return err
		}
		return putMessage(txn, m)
	})
}

// Release makes a held message deliverable again at its recipients' next
// attempt times.
func (q *Queue) Release(id ID) error {
	var dueDone func()
	defer func() {
		if dueDone != nil {
			dueDone()
		}
	}()
	return q.adminUpdate(id, "release", keeps, func(txn *badger.Txn, m *Message, d *delta) error {
		if !m.Held {
			return nil
		}
		if err := txn.Delete(heldKey(m.ID)); err != nil {
			return err
		}
		d.held--
		d.add(kindOf(m), 1)
		m.Held, m.Due = false, m.nextDue()
		dueDone = q.due.note(m.Due)
		if err := txn.Set(dueKey(m.Due, m.ID), dueValue(m)); err != nil {
			return err
		}
		return putMessage(txn, m)
	})
}

// Retry makes every pending recipient of a message due now. A held message
// stays held, with its recipients due as soon as it is released.
func (q *Queue) Retry(id ID) error {
	now := q.now()
	done := q.due.note(now)
	defer done()
	return q.adminUpdate(id, "retry", keeps, func(txn *badger.Txn, m *Message, d *delta) error {
		return retryMessage(txn, m, now)
	})
}

func retryMessage(txn *badger.Txn, m *Message, now time.Time) error {
	for i := range m.Recipients {
		if m.Recipients[i].State == Pending {
			m.Recipients[i].NextAttempt = now
		}
	}
	if !m.Held {
		if err := txn.Delete(dueKey(m.Due, m.ID)); err != nil {
			return err
		}
		m.Due = now
		if err := txn.Set(dueKey(m.Due, m.ID), dueValue(m)); err != nil {
			return err
		}
	}
	return putMessage(txn, m)
}

// Delete removes a message and its body without a bounce; a quarantined
// message, or one whose record is unreadable, too.
func (q *Queue) Delete(id ID) error {
	err := q.adminUpdate(id, "delete", frees, func(txn *badger.Txn, m *Message, d *delta) error {
		if m.Held {
			if err := txn.Delete(heldKey(m.ID)); err != nil {
				return err
			}
			d.held--
		} else {
			if err := txn.Delete(dueKey(m.Due, m.ID)); err != nil {
				return err
			}
			d.add(kindOf(m), -1)
		}
		d.bytes -= m.Size
		return deleteMessage(txn, m.ID)
	})
	if errors.Is(err, ErrQuarantined) || errors.Is(err, ErrUnreadable) {
		err = q.removeUnreadable(id)
	}
	if err == nil {
		q.logRemoved(id, "deleted")
	}
	return err
}

// flushBatch is how many messages Flush changes per transaction: one
// synced commit per batch instead of one per message.
const flushBatch = 256

// Flush makes every deferred, unheld message due now (Postfix: postqueue -f)
// and returns how many it touched. It walks the due index from now on in
// batches, so its memory stays small on a large queue; messages being
// delivered are skipped.
func (q *Queue) Flush() (int, error) {
	if q.closed.Load() {
		return 0, ErrClosed
	}
	if q.readOnly {
		return 0, ErrReadOnly
	}
	if err := q.checkSpace(0); err != nil {
		return 0, fmt.Errorf("flush: %w", err)
	}
	now := q.now()
	start := dueKeyUpTo(now)
	n := 0
	for {
		ids, next, err := q.dueFrom(start, flushBatch)
		if err != nil {
			return n, fmt.Errorf("flush: %w", err)
		}
		done, err := q.retryBatch(ids, now)
		n += done
		if err != nil {
			return n, fmt.Errorf("flush: %w", err)
		}
		if next == nil {
			return n, nil
		}
		start = next
	}
}

// dueFrom lists up to max IDs of the due index from key start on, and the
// key to continue from (nil at the end). Retried messages move to now,
// before start, so a walk never meets them twice.
func (q *Queue) dueFrom(start []byte, max int) ([]ID, []byte, error) {
	var ids []ID
	var next []byte
	err := q.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixDue}})
		defer it.Close()
		for it.Seek(start); it.Valid(); it.Next() {
			if len(ids) == max {
				next = it.Item().KeyCopy(nil)
				return nil
			}
			if _, id, ok := parseDueKey(it.Item().Key()); ok {
				ids = append(ids, id)
			}
		}
		return nil
	})
	return ids, next, err
}

// retryBatch retries the given messages in one transaction, skipping those
// being delivered or gone, and returns how many it changed.
func (q *Queue) retryBatch(ids []ID, now time.Time) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	done := q.due.note(now)
	defer done()
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	err := q.update(func(txn *badger.Txn) error {
		n = 0
		for _, id := range ids {
			if _, busy := q.leased[id]; busy {
				continue
			}
			m, err := getMessage(txn, id)
			if errors.Is(err, ErrNotFound) || errors.Is(err, ErrUnreadable) {
				continue // gone; or quarantined by the lease that meets it
			}
			if err != nil {
				return err
			}
			if err := retryMessage(txn, m, now); err != nil {
				return err
			}
			q.moved(id)
			n++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	q.Notify()
	return n, nil
}

// Which free space an operator change needs (space.go).
const (
	keeps = false // it keeps the message: the reserve
	frees = true  // it frees space: the emergency margin
)

// adminUpdate runs one operator change on a message that no delivery holds.
// fn records counter changes in its delta; they apply only on commit.
func (q *Queue) adminUpdate(id ID, op string, freesSpace bool, fn func(*badger.Txn, *Message, *delta) error) error {
	if q.closed.Load() {
		return ErrClosed
	}
	space := q.checkSpace(0)
	if freesSpace {
		space = q.checkEmergencySpace()
	}
	if space != nil {
		return fmt.Errorf("%s %s: %w", op, id, space)
	}
	// Holding mu keeps Lease from claiming the message meanwhile. Operator
	// changes are rare, so blocking the scheduler for one commit is fine.
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, busy := q.leased[id]; busy {
		return fmt.Errorf("%s %s: %w", op, id, ErrLeased)
	}
	var d delta
	err := q.update(func(txn *badger.Txn) error {
		d = delta{}
		m, err := getMessage(txn, id)
		if errors.Is(err, ErrNotFound) && exists(txn, quarantineKey(id)) {
			return ErrQuarantined
		}
		if err != nil {
			return err
		}
		return fn(txn, m, &d)
	})
	if err != nil {
		return fmt.Errorf("%s %s: %w", op, id, err)
	}
	q.moved(id)
	d.apply(q)
	q.Notify()
	return nil
}

// delta collects counter changes, applied only once a transaction commits.
type delta struct{ ready, deferred, held, bytes int64 }

func (d *delta) add(k kind, n int64) {
	if k == kindDeferred {
		d.deferred += n
	} else {
		d.ready += n
	}
}

func (d delta) apply(q *Queue) {
	q.ready.Add(d.ready)
	q.deferred.Add(d.deferred)
	q.held.Add(d.held)
	q.bytes.Add(d.bytes)
	q.freedBodies(-d.bytes)
}
