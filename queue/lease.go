package queue

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Lease takes up to max messages that are due at now and not already
// leased, oldest due first. Before returning, it pushes each one's due time
// to now+LeaseDuration on disk, so a crash during delivery makes it due
// again once, after that delay. The caller must end every lease with
// Complete or ReturnLease.
func (q *Queue) Lease(now time.Time, max int) ([]*Message, error) {
	return q.LeaseFiltered(now, max, LeaseFilter{})
}

// LeaseFiltered is Lease for the messages that filter admits: a non-nil
// filter.Admit is asked about each due, unleased message by the domain it
// is next due for; messages it refuses stay as they are, and the scan goes
// on past them. With filter.MaxSkipped set, a scan makes up to three
// passes of at most that many refusals each: from the oldest due message;
// from where the previous such scan stopped short (so successive scans
// sweep a long refused backlog in due order); and back from the newest
// due message for up to filter.Tail refusals (mail that just arrived).
func (q *Queue) LeaseFiltered(now time.Time, max int, filter LeaseFilter) ([]*Message, error) {
	if q.closed.Load() {
		return nil, ErrClosed
	}
	if max <= 0 {
		return nil, nil
	}
	// Below the reserve no delivery starts: each lease rewrites records.
	if err := q.checkSpace(0); err != nil {
		return nil, fmt.Errorf("lease: %w", err)
	}
	claimed, err := q.claimDue(now, max, filter)
	if err != nil || len(claimed) == 0 {
		return nil, err
	}
	// The claim makes this caller the only writer of these messages, so
	// they are read first and their new due times written through the
	// group commit, sharing a sync with concurrent enqueues and completions.
	// Records that cannot be delivered are set aside, not returned as an
	// error: one bad record must not stop the delivery of all the others.
	jobs, bad, err := q.readClaimed(claimed)
	if err == nil && len(bad) > 0 {
		q.setAside(bad)
	}
	if err == nil && len(jobs) > 0 {
		due := now.Add(q.opts.LeaseDuration)
		done := q.due.note(due)
		err = q.commit(leaseWrites(jobs, due))
		done()
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if err != nil {
		for _, c := range claimed {
			delete(q.leased, c.id)
		}
		return nil, fmt.Errorf("lease: %w", err)
	}
	found := make(map[ID]bool, len(jobs))
	for _, m := range jobs {
		found[m.ID] = true
		q.records[m.ID] = m.clone()
	}
	for _, c := range claimed {
		if !found[c.id] {
			delete(q.leased, c.id)
			q.moved(c.id) // quarantined, or gone since the scan's snapshot
		}
	}
	return jobs, nil
}

// LeaseFilter lets a caller of Lease pass over due messages, e.g. those
// for destinations that have no free connection, without leasing them.
type LeaseFilter struct {
	// Admit reports whether a message next due for domain may be leased
	// now. It is called in the scan's order with no lock of the queue
	// held, from the goroutine that called LeaseFiltered; a message it
	// admits may still go to a lease that claimed it first. Messages
	// written before the due index held domains come with "". Nil admits
	// everything.
	Admit func(domain string) bool
	// MaxSkipped ends the scan after that many refused messages; 0 means
	// no limit.
	MaxSkipped int
	// Tail is the refusal budget of the last pass, back from the newest
	// due message, so that mail that just arrived is not hidden behind a
	// long refused backlog.
	Tail int
}

// claim is a due-index entry that a lease has marked as leased in memory.
type claim struct {
	id   ID
	key  []byte // the due-index key
	kind kind
	size int64
	// counted: the entry's value parsed, so the counters include it.
	counted bool
}

// claimDue marks up to max due, unleased messages that filter admits as
// leased in memory (dueScan), starting where the live entries begin
// (indexFloor), not at the deletions that delivered messages left
// before them.
func (q *Queue) claimDue(now time.Time, max int, filter LeaseFilter) ([]claim, error) {
	s := &dueScan{q: q, end: dueKeyUpTo(now), max: max, filter: filter}
	q.mu.Lock()
	q.scanning[s] = struct{}{} // before the snapshot: see moved
	q.mu.Unlock()
	defer func() {
		q.mu.Lock()
		delete(q.scanning, s)
		q.mu.Unlock()
	}()
	start, floor := q.due.begin()
	err := q.db.View(func(txn *badger.Txn) error {
		s.txn = txn
		return s.passes(start)
	})
	if err != nil {
		q.due.end(start, floor)
		q.unclaim(s.claimed)
		return nil, fmt.Errorf("scan due index: %w", err)
	}
	q.due.end(s.first, floor)
	return s.claimed, nil
}

// NextDue is the due time of the earliest message that is not leased, and
// false if there is none (held messages are never due).
func (q *Queue) NextDue() (time.Time, bool) {
	var due time.Time
	var found bool
	_ = q.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixDue}})
		defer it.Close()
		q.mu.Lock()
		defer q.mu.Unlock()
		for it.Seek(dueKeyAt(q.due.start())); it.Valid(); it.Next() {
			d, id, ok := parseDueKey(it.Item().Key())
			if !ok {
				continue
			}
			if _, busy := q.leased[id]; !busy {
				due, found = d, true
				return nil
			}
		}
		return nil
	})
	return due, found
}

// leaseWrites moves each job from its due key to due, which it sets.
func leaseWrites(jobs []*Message, due time.Time) func(*badger.Txn) error {
	type move struct {
		from, to, kind, rec []byte
		id                  ID
	}
	moves := make([]move, len(jobs))
	var encErr error
	for i, m := range jobs {
		moves[i] = move{from: dueKey(m.Due, m.ID), to: dueKey(due, m.ID), kind: dueValue(m), id: m.ID}
		m.Due = due
		if moves[i].rec, encErr = encodeMessage(m); encErr != nil {
			break
		}
	}
	return func(txn *badger.Txn) error {
		if encErr != nil {
			return encErr
		}
		for _, mv := range moves {
			if err := txn.Delete(mv.from); err != nil {
				return err
			}
			if err := txn.Set(messageKey(mv.id), mv.rec); err != nil {
				return err
			}
			if err := txn.Set(mv.to, mv.kind); err != nil {
				return err
			}
		}
		return nil
	}
}

// ReturnLease ends a lease without an attempt: the message is due again now.
// Used on shutdown for work that was leased but not started.
func (q *Queue) ReturnLease(id ID) error {
	err := q.checkEmergencySpace()
	if err == nil {
		err = q.makeDueAgain(id)
	}
	q.endLease(id)
	if err != nil {
		return fmt.Errorf("return lease of %s: %w", id, err)
	}
	q.Notify()
	return nil
}

// endLease forgets the lease on id, whose due entry its end has moved.
func (q *Queue) endLease(id ID) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.leased, id)
	delete(q.records, id)
	q.moved(id)
}

// makeDueAgain moves a message back to the due time of its recipients.
func (q *Queue) makeDueAgain(id ID) error {
	var dueDone func()
	defer func() {
		if dueDone != nil {
			dueDone()
		}
	}()
	return q.update(func(txn *badger.Txn) error {
		m, err := getMessage(txn, id)
		if err != nil {
			return err
		}
		if err := txn.Delete(dueKey(m.Due, m.ID)); err != nil {
			return err
		}
		m.Due = m.nextDue()
		if err := putMessage(txn, m); err != nil {
			return err
		}
		dueDone = q.due.note(m.Due)
		return txn.Set(dueKey(m.Due, m.ID), dueValue(m))
	})
}

func getMessage(txn *badger.Txn, id ID) (*Message, error) {
	m, _, err := readMessage(txn, id)
	return m, err
}

// readMessage reads and decodes a message record. A record that does not
// decode, or that names another message, is an error wrapping
// errUnreadable; raw then holds the record as stored.
func readMessage(txn *badger.Txn, id ID) (m *Message, raw []byte, err error) {
	err = readValue(txn, messageKey(id), func(v []byte) (err error) {
		if m, err = decodeMessage(v); err == nil && m.ID != id {
			err = fmt.Errorf("%w: the record of %s names %.40q", errUnreadable, id, m.ID)
		}
		if err != nil {
			m, raw = nil, bytes.Clone(v)
		}
		return err
	})
	return m, raw, err
}

// readValue hands the value stored at key to fn, which must not keep it
// past its return; a missing key is ErrNotFound.
func readValue(txn *badger.Txn, key []byte, fn func(v []byte) error) error {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	return item.Value(fn)
}

func putMessage(txn *badger.Txn, m *Message) error {
	rec, err := encodeMessage(m)
	if err != nil {
		return err
	}
	return txn.Set(messageKey(m.ID), rec)
}

func deleteMessage(txn *badger.Txn, id ID) error {
	if err := txn.Delete(messageKey(id)); err != nil {
		return err
	}
	return txn.Delete(bodyKey(id))
}
