package queue

import (
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Result is the outcome of one delivery attempt for one recipient.
type Result struct {
	// Index is the recipient's position in Message.Recipients.
	Index int
	// State is Delivered, Failed, or Pending for a temporary failure.
	State State
	// NextAttempt is when to try again; only used with Pending.
	NextAttempt time.Time
	// Attempted is when the attempt was made.
	Attempted time.Time
	// Response, Status and RemoteMTA are kept for logs, the admin API and
	// bounces; the queue does not interpret them.
	Response, Status, RemoteMTA string
	// Postponed means the recipient was not attempted (delivery held it
	// back, e.g. for a rate limit): only NextAttempt is recorded; the
	// attempt count and the last response stay as they were.
	Postponed bool
}

// Update is what a delivery round, or a part of it (Record), changes on a
// leased message.
type Update struct {
	Results []Result
	// DelayNotified marks that a delay notice has been sent.
	DelayNotified bool
	// Events are the delivery events of these results, written to the
	// event log in the same transaction as the results they describe, so
	// that a crash keeps both or neither. Their Seq is set once written.
	Events []EventRecord
}

// Complete records the results of a delivery round and ends the lease. When
// every recipient is final, the message and its body are deleted. It
// returns the message as stored after the update.
func (q *Queue) Complete(id ID, u Update) (*Message, error) {
	m, err := q.writeResults(id, u, true)
	if err != nil {
		return nil, fmt.Errorf("complete %s: %w", id, err)
	}
	return m, nil
}

// Record records the results of part of a delivery round (one
// destination's transaction) and keeps the lease: the round goes on, and
// ends with Complete. The message stays due when the lease ends, so a
// crash repeats only what was not recorded. It returns the message as
// stored after the update.
func (q *Queue) Record(id ID, u Update) (*Message, error) {
	m, err := q.writeResults(id, u, false)
	if err != nil {
		return nil, fmt.Errorf("record results of %s: %w", id, err)
	}
	return m, nil
}

// writeResults applies u to the leased message id and writes it through
// the group commit; end also ends the lease, moving the message to its
// next due time or deleting it. The lease makes the caller the message's
// only writer (Lease skips leased messages, operators get ErrLeased), so
// the record is known without a read (the one the lease, or the last
// Record, wrote) and the new state can be written in the shared
// transaction.
func (q *Queue) writeResults(id ID, u Update, end bool) (*Message, error) {
	m, err := q.leasedRecord(id)
	if err != nil {
		return nil, err
	}
	before := kindOf(m)
	err = applyResults(m, u)
	if err == nil {
		// The attempt was made: record it unless the disk is nearly full.
		err = q.checkEmergencySpace()
	}
	var events *eventLog
	if err == nil && len(u.Events) > 0 {
		if _, err = eventsSize(u.Events); err == nil {
			events, err = q.eventLog()
		}
	}
	if err == nil {
		err = q.commitResults(m, end, events, u.Events)
	}
	if err == nil && events != nil {
		events.committed(u.Events)
	}
	if !end {
		if err == nil {
			q.recorded(id, m, before)
		}
		return m, err
	}
	q.endLease(id)
	if err != nil {
		return nil, err
	}
	q.counter(before).Add(-1)
	if m.final() {
		q.bytes.Add(-m.Size)
		q.freedBodies(m.Size)
		q.logRemoved(id, "final")
	} else {
		q.counter(kindOf(m)).Add(1)
	}
	q.Notify()
	return m, nil
}

// commitResults writes m, which holds a round's results, through the group
// commit, with the events recs in events when that is not nil: in place
// while the lease goes on, else moved to its next due time or deleted
// (completeWrites).
func (q *Queue) commitResults(m *Message, end bool, events *eventLog, recs []EventRecord) error {
	var writes func(*badger.Txn) error
	if end {
		writes = completeWrites(m) // sets m.Due to the next due time
		if !m.final() {
			dueDone := q.due.note(m.Due)
			defer dueDone()
		}
	} else {
		writes = recordWrites(m)
	}
	if events != nil {
		writes = withEvents(writes, events, recs)
	}
	return q.commit(writes)
}

// leasedRecord returns a copy of the record of id, which must be leased:
// as the lessee last wrote it, or read from disk (a lease that an admin
// operation holds).
func (q *Queue) leasedRecord(id ID) (*Message, error) {
	q.mu.Lock()
	_, owned := q.leased[id]
	rec := q.records[id]
	q.mu.Unlock()
	switch {
	case !owned:
		return nil, errors.New("not leased")
	case rec != nil:
		return rec.clone(), nil
	}
	var m *Message
	err := q.db.View(func(txn *badger.Txn) error {
		var err error
		m, err = getMessage(txn, id)
		return err
	})
	return m, err
}

// recorded notes m, leased and written with part of a round's results,
// as its lease's record, and counts it as its new kind (ready or
// deferred) if the results changed it from before: in the counters and
// among the leased at once under q.mu, so that Stats never sees one
// without the other.
func (q *Queue) recorded(id ID, m *Message, before kind) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.records[id] = m.clone()
	if after := kindOf(m); after != before {
		q.counter(before).Add(-1)
		q.counter(after).Add(1)
		q.leased[id] = after
	}
}

// recordWrites rewrites m's record and its due-index entry in place: the
// message stays due at its lease's end.
func recordWrites(m *Message) func(*badger.Txn) error {
	rec, recErr := encodeMessage(m)
	due := dueValue(m)
	return func(txn *badger.Txn) error {
		if recErr != nil {
			return recErr
		}
		if err := txn.Set(messageKey(m.ID), rec); err != nil {
			return err
		}
		return txn.Set(dueKey(m.Due, m.ID), due)
	}
}

// completeWrites moves m from its due key to its next one, or deletes it
// when every recipient is final; m already holds the round's results.
func completeWrites(m *Message) func(*badger.Txn) error {
	was := m.Due
	if m.final() {
		m.Due = time.Time{}
		return func(txn *badger.Txn) error {
			if err := txn.Delete(dueKey(was, m.ID)); err != nil {
				return err
			}
			return deleteMessage(txn, m.ID)
		}
	}
	m.Due = m.nextDue()
	rewrite := recordWrites(m)
	return func(txn *badger.Txn) error {
		if err := txn.Delete(dueKey(was, m.ID)); err != nil {
			return err
		}
		return rewrite(txn)
	}
}

func applyResults(m *Message, u Update) error {
	for _, r := range u.Results {
		if r.Index < 0 || r.Index >= len(m.Recipients) {
			return fmt.Errorf("result for recipient %d of %d", r.Index, len(m.Recipients))
		}
		rc := &m.Recipients[r.Index]
		if rc.State != Pending {
			continue // already final: a duplicate attempt changes nothing
		}
		if r.Postponed {
			rc.NextAttempt = r.NextAttempt
			continue
		}
		rc.State = r.State
		rc.Attempts++
		rc.LastAttempt = r.Attempted
		rc.LastResponse, rc.Status, rc.RemoteMTA = r.Response, r.Status, r.RemoteMTA
		if r.State == Pending {
			rc.NextAttempt = r.NextAttempt
		} else {
			rc.NextAttempt = time.Time{}
		}
	}
	if u.DelayNotified {
		m.DelayNotified = true
	}
	return nil
}
