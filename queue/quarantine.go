package queue

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Poison records. A message record that cannot be decoded (bit rot, a
// bug, a record written by a newer version) must not stop the queue: when
// a lease meets one, the record is moved aside to q<id> with the reason,
// its due-index entry is removed, and the lease goes on with the other
// messages. The body stays, for the operator, who lists such messages
// with `mxout queue list --state quarantined` and removes them with
// `mxout queue delete`. A due-index entry whose record is missing is
// removed the same way; left alone it would be claimed by every lease and
// counted in Stats forever.

// Errors of the operator changes on such messages.
var (
	// ErrQuarantined means the message's record was unreadable and has
	// been moved aside: it can be shown and deleted, nothing else.
	ErrQuarantined = errors.New("queue: message is quarantined (its record was unreadable); it can only be shown or deleted")
	// ErrUnreadable means the message's record cannot be decoded; it is
	// quarantined when it is next due, and can be deleted.
	ErrUnreadable = errUnreadable
)

// Quarantine says why and when a message record was moved aside.
type Quarantine struct {
	Reason string
	At     time.Time
}

// quarantined is the stored value at q<id>.
type quarantined struct {
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
	// Size is the body's size as the due index had it.
	Size int64 `json:"size"`
	// Record is the record as it was found.
	Record []byte `json:"record"`
}

// unreadable is a claimed message that cannot be leased: its record did
// not decode (record holds it, reason says why), or there is no record
// at all (record is nil).
type unreadable struct {
	claim
	record []byte
	reason error
}

// readClaimed reads the records of claimed messages. Those that cannot be
// delivered, an unreadable record or a due entry without one, go to bad.
func (q *Queue) readClaimed(claimed []claim) (jobs []*Message, bad []unreadable, err error) {
	err = q.db.View(func(txn *badger.Txn) error {
		for _, c := range claimed {
			m, raw, err := readMessage(txn, c.id)
			switch {
			case err == nil:
				jobs = append(jobs, m)
			case errors.Is(err, errUnreadable):
				bad = append(bad, unreadable{claim: c, record: raw, reason: err})
			case errors.Is(err, ErrNotFound) && exists(txn, c.key):
				bad = append(bad, unreadable{claim: c})
			case errors.Is(err, ErrNotFound):
				// deleted between the scan and now, with its due entry
			default:
				return err
			}
		}
		return nil
	})
	return jobs, bad, err
}

// setAside quarantines the unreadable records among bad and removes the
// due entries of all of them, logging each once. The caller holds their
// claims, so nobody else writes them meanwhile. If the write fails, it is
// logged and the next lease that meets them tries again.
func (q *Queue) setAside(bad []unreadable) {
	now := q.now()
	values := make([][]byte, len(bad))
	for i, u := range bad {
		if u.record == nil {
			continue
		}
		v, err := json.Marshal(quarantined{Reason: u.reason.Error(), At: now, Size: u.size, Record: u.record})
		if err != nil {
			q.log.Error("queue: cannot quarantine an unreadable message record", "queue_id", string(u.id), "err", err)
			return
		}
		values[i] = v
	}
	err := q.commit(func(txn *badger.Txn) error {
		for i, u := range bad {
			if err := txn.Delete(u.key); err != nil {
				return err
			}
			if values[i] == nil {
				continue
			}
			if err := txn.Set(quarantineKey(u.id), values[i]); err != nil {
				return err
			}
			if err := txn.Delete(messageKey(u.id)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		q.log.Error("queue: cannot set aside unreadable message records; the next lease tries again", "messages", len(bad), "err", err)
		return
	}
	for _, u := range bad {
		if u.counted {
			q.counter(u.kind).Add(-1)
			q.bytes.Add(-u.size)
		}
		if u.record == nil {
			q.log.Warn("queue: removed a due-index entry that had no message record", "queue_id", string(u.id))
			continue
		}
		q.quarantined.Add(1)
		q.quarantinedTotal.Add(1)
		q.log.Error("queue: quarantined an unreadable message record; it will not be delivered (mxout queue list --state quarantined)",
			"queue_id", string(u.id), "err", u.reason)
	}
}

// getQuarantined returns a quarantined message as well as it can be read.
func getQuarantined(txn *badger.Txn, id ID) (*Message, error) {
	var m *Message
	err := readValue(txn, quarantineKey(id), func(v []byte) error {
		var err error
		m, err = quarantinedMessage(id, v)
		return err
	})
	return m, err
}

// quarantinedMessage shows the value of q<id> as a Message: whatever of
// the record still decodes, its ID, and the Quarantine.
func quarantinedMessage(id ID, v []byte) (*Message, error) {
	var qv quarantined
	if err := json.Unmarshal(v, &qv); err != nil {
		return nil, fmt.Errorf("quarantined record %s: %w", id, err)
	}
	var m Message
	_ = json.Unmarshal(qv.Record, &m) // best effort: fields before the damage
	m.ID, m.Size, m.Held, m.Due = id, qv.Size, false, time.Time{}
	if m.Arrival.IsZero() {
		m.Arrival = id.Time()
	}
	m.Quarantine = &Quarantine{Reason: qv.Reason, At: qv.At}
	return &m, nil
}

// removeUnreadable deletes what is stored for a message whose record is
// unreadable or quarantined: the record or its quarantined copy, the body
// and a held entry. A due entry cannot be found without a readable record;
// the lease that meets it removes it.
func (q *Queue) removeUnreadable(id ID) error {
	if err := q.checkEmergencySpace(); err != nil {
		return fmt.Errorf("delete %s: %w", id, err)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, busy := q.leased[id]; busy {
		return fmt.Errorf("delete %s: %w", id, ErrLeased)
	}
	var d delta
	var wasQuarantined bool
	err := q.update(func(txn *badger.Txn) error {
		d, wasQuarantined = delta{}, exists(txn, quarantineKey(id))
		if !wasQuarantined && !exists(txn, messageKey(id)) {
			return ErrNotFound
		}
		if err := readValue(txn, heldKey(id), func(v []byte) error {
			d.held--
			d.bytes -= parseSizeValue(v)
			return nil
		}); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		for _, k := range [][]byte{messageKey(id), quarantineKey(id), heldKey(id), bodyKey(id)} {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete %s: %w", id, err)
	}
	d.apply(q)
	if wasQuarantined {
		q.quarantined.Add(-1)
	}
	return nil
}
