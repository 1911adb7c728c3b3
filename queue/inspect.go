package queue

import (
	"bytes"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/mxout/mxout/internal/header"
)

// Page is one page of a listing.
type Page struct {
	// Messages match the filter, in ID (arrival) order.
	Messages []*Message
	// Next is the ListOptions.After of the following page; empty when the
	// listing is complete. With MaxScan, a page may be short (even empty)
	// and still have a Next.
	Next ID
}

// ListPage returns one page of the messages that match opts, in arrival
// order. It seeks to opts.After in the message records (in the quarantine
// for State "quarantined") and reads at most opts.MaxScan of them (never
// bodies), so a page costs the same on a queue of a hundred or a million
// messages.
func (q *Queue) ListPage(opts ListOptions) (Page, error) {
	limit := opts.Limit
	if limit <= 0 {
		limit = 100
	}
	var cutoff time.Time
	if opts.OlderThan > 0 {
		cutoff = q.now().Add(-opts.OlderThan)
	}
	// The message records, from where the live ones begin (past the
	// records of delivered mail); or the quarantine.
	prefix, start := byte(prefixMessage), messageKeyAt(q.arrivals.start())
	decode := func(_ ID, v []byte) (*Message, error) { return decodeMessage(v) }
	if opts.State == "quarantined" {
		prefix, start, decode = prefixQuarantine, []byte{prefixQuarantine}, quarantinedMessage
	}
	if opts.After != "" {
		start = append(append([]byte{prefix}, opts.After...), 0)
	}
	var p Page
	err := q.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefix}, PrefetchValues: true, PrefetchSize: min(limit, 100)})
		defer it.Close()
		scanned := 0
		var last ID // the last record read: a scan cut short resumes after it
		for it.Seek(start); it.Valid(); it.Next() {
			id := ID(it.Item().Key()[1:]) // the conversion copies
			if !cutoff.IsZero() && !id.Time().Before(cutoff) {
				return nil // IDs sort by arrival: every later one is newer
			}
			if opts.MaxScan > 0 && scanned == opts.MaxScan {
				p.Next = last
				return nil
			}
			scanned++
			last = id
			var m *Message
			err := it.Item().Value(func(v []byte) error {
				var err error
				m, err = decode(id, v)
				return err
			})
			if err != nil {
				q.log.Warn("queue: skipping unreadable record", "key", string(it.Item().Key()), "err", err)
				continue
			}
			if !q.matches(m, opts) {
				continue
			}
			if len(p.Messages) == limit {
				p.Next = p.Messages[limit-1].ID
				return nil
			}
			p.Messages = append(p.Messages, m)
		}
		return nil
	})
	if err != nil {
		return Page{}, fmt.Errorf("list: %w", err)
	}
	return p, nil
}

// maxHeaderBytes caps what Headers returns: enough for any sane header
// section, bounded for a hostile one.
const maxHeaderBytes = 64 << 10

// Headers returns the header section of a stored message, up to the blank
// line that ends it (that line not included), at most 64 KiB. It reads the
// body from disk; an operator looks at one message at a time.
func (q *Queue) Headers(id ID) ([]byte, error) {
	var h []byte
	err := q.db.View(func(txn *badger.Txn) error {
		return readValue(txn, bodyKey(id), func(v []byte) error {
			v, _, _ = header.Split(v)
			h = bytes.Clone(v[:min(len(v), maxHeaderBytes)])
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("headers of %s: %w", id, err)
	}
	return h, nil
}

// Consistency is what Verify found on disk.
type Consistency struct {
	// Messages, Bodies, Due, Held and Quarantined count the records of
	// each kind.
	Messages, Bodies, Due, Held, Quarantined int
	// Problems describes each inconsistency found, at most 100.
	Problems []string
}

// OK reports whether Verify found nothing wrong.
func (c Consistency) OK() bool { return len(c.Problems) == 0 }

// Verify checks that every message is whole: each record has its body
// and exactly one index entry (due, or held), and no body or index entry
// lacks its record. Enqueue, Complete and the operator changes write all of
// a message's keys in one badger transaction, so a crash can never leave a
// message half-written; Verify is how tests and operators check that. It
// reads every message record (no bodies): a full scan, for a fsck, not for
// a hot path.
func (q *Queue) Verify() (Consistency, error) {
	var c Consistency
	problem := func(format string, a ...any) {
		if len(c.Problems) < 100 {
			c.Problems = append(c.Problems, fmt.Sprintf(format, a...))
		}
	}
	err := q.db.View(func(txn *badger.Txn) error {
		unheld := 0
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixMessage}, PrefetchValues: true, PrefetchSize: 100})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			c.Messages++
			id := ID(it.Item().Key()[1:])
			var m *Message
			err := it.Item().Value(func(v []byte) error {
				var err error
				m, err = decodeMessage(v)
				return err
			})
			if err != nil {
				problem("%s: unreadable record: %v", id, err)
				continue
			}
			if m.ID != id {
				problem("%s: record names %s", id, m.ID)
			}
			if m.final() {
				problem("%s: every recipient is final but the message is still stored", id)
			}
			if !exists(txn, bodyKey(id)) {
				problem("%s: record without a body", id)
			}
			if m.Held {
				if !exists(txn, heldKey(id)) {
					problem("%s: held but not in the held index", id)
				}
			} else {
				unheld++
				if !exists(txn, dueKey(m.Due, id)) {
					problem("%s: not in the due index at its due time %v", id, m.Due)
				}
			}
		}
		// A quarantined message keeps its body, if it had one.
		quarantinedBodies := 0
		qit := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixQuarantine}})
		defer qit.Close()
		for qit.Rewind(); qit.Valid(); qit.Next() {
			c.Quarantined++
			if exists(txn, bodyKey(ID(qit.Item().Key()[1:]))) {
				quarantinedBodies++
			}
		}
		c.Bodies = countPrefix(txn, prefixBody)
		c.Due = countPrefix(txn, prefixDue)
		c.Held = countPrefix(txn, prefixHeld)
		// Every record's keys exist (above); equal counts then mean no body
		// or index entry is left over from a message that is gone.
		if c.Bodies != c.Messages+quarantinedBodies {
			problem("%d bodies for %d message records and %d quarantined ones with a body", c.Bodies, c.Messages, quarantinedBodies)
		}
		if c.Due != unheld {
			problem("%d due-index entries for %d messages that are not held", c.Due, unheld)
		}
		if c.Held != c.Messages-unheld {
			problem("%d held-index entries for %d held messages", c.Held, c.Messages-unheld)
		}
		return nil
	})
	if err != nil {
		return c, fmt.Errorf("verify: %w", err)
	}
	return c, nil
}

func exists(txn *badger.Txn, key []byte) bool {
	_, err := txn.Get(key)
	return err == nil
}

func countPrefix(txn *badger.Txn, prefix byte) int {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefix}})
	defer it.Close()
	n := 0
	for it.Rewind(); it.Valid(); it.Next() {
		n++
	}
	return n
}
