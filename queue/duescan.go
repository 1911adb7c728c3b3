package queue

import (
	"bytes"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// dueScan is one scan of the due index for LeaseFiltered. It claims up to
// max due, unleased messages that the filter admits, in up to three
// passes (head, sweep, tail; LeaseFiltered says what each is for).
//
// No lock is held while the filter runs or badger is read: a pass reads a
// batch of entries from the scan's snapshot, looks up under q.mu which
// of them are leased, asks the filter about the others with no lock
// held, and claims the admitted ones under q.mu, passing over any that
// another lease claimed, or whose entry changed (moved), meanwhile.
type dueScan struct {
	q      *Queue
	txn    *badger.Txn // the snapshot, opened after the floor scan began
	end    []byte      // the first key not due yet
	max    int
	filter LeaseFilter
	// claimed are the messages this scan marked as leased, in claim order.
	claimed []claim
	// first is the due time of the first entry the head pass saw, from
	// where live entries begin; zero if it saw none.
	first time.Time
	// moved are the messages whose due entry changed since the scan
	// began (q.mu): its snapshot may show them where they no longer are.
	moved map[ID]bool

	// Scratch space of the batch being read, reused batch after batch:
	// a deep scan reads tens of thousands of entries.
	batch    []dueEntry
	keys     []byte
	admitted []dueEntry
}

// dueEntry is a due-index entry as a pass reads it.
type dueEntry struct {
	claim
	domain string
	busy   bool // leased when its batch was read
}

// pass says how one pass walks the index: which way, where it stops,
// and how many refusals end it (0: no limit).
type pass struct {
	it     *badger.Iterator
	beyond func(key []byte) bool // the key lies past the pass's end
	skips  int
	head   bool // note the first entry seen
}

// maxPrefetch is the most entries a pass reads ahead: a filtered scan
// often ends after a few of them.
const maxPrefetch = 64

// head walks from start, where the live entries begin, toward the first
// entry not due yet. atEnd reports that it got there; last is the last
// entry it looked at.
func (s *dueScan) head(start time.Time) (last []byte, atEnd bool, err error) {
	it := s.forward()
	defer it.Close()
	it.Seek(dueKeyAt(start))
	return s.run(pass{it: it, beyond: s.notDue, skips: s.filter.MaxSkipped, head: true})
}

// sweep walks on from the key from, like head.
func (s *dueScan) sweep(from []byte) (last []byte, atEnd bool, err error) {
	it := s.forward()
	defer it.Close()
	it.Seek(from)
	return s.run(pass{it: it, beyond: s.notDue, skips: s.filter.MaxSkipped})
}

// tail walks back from the newest due entry, down to the key stop (a
// forward pass has looked from there on), for up to filter.Tail refusals.
func (s *dueScan) tail(stop []byte) error {
	it := s.txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixDue}, PrefetchValues: true,
		PrefetchSize: s.prefetch(s.filter.Tail), Reverse: true})
	defer it.Close()
	it.Seek(s.end)
	_, _, err := s.run(pass{it: it, skips: s.filter.Tail, beyond: func(key []byte) bool {
		return string(key) <= string(stop)
	}})
	return err
}

func (s *dueScan) forward() *badger.Iterator {
	return s.txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixDue}, PrefetchValues: true, PrefetchSize: s.prefetch(s.filter.MaxSkipped)})
}

func (s *dueScan) notDue(key []byte) bool { return string(key) >= string(s.end) }

// prefetch is how many entries a pass with that refusal budget reads ahead.
func (s *dueScan) prefetch(skips int) int {
	if skips > 0 {
		return min(maxPrefetch, s.max+skips)
	}
	return maxPrefetch
}

// run walks p.it batch by batch until an entry lies beyond the pass
// (atEnd), or max messages are claimed or p.skips refused. last is the
// last entry it looked at, leased ones included.
func (s *dueScan) run(p pass) (last []byte, atEnd bool, err error) {
	refused := 0
	for {
		n := s.prefetch(p.skips)
		if p.skips > 0 {
			n = min(n, max(1, s.max-len(s.claimed)+p.skips-refused))
		}
		batch, more, err := s.read(p, n)
		if err != nil {
			return last, false, err
		}
		s.q.markBusy(batch)
		admitted := s.admitted[:0]
		spent := false
		for _, e := range batch {
			if len(s.claimed)+len(admitted) >= s.max || (p.skips > 0 && refused >= p.skips) {
				spent = true
				break
			}
			last = append(last[:0], e.key...)
			switch {
			case e.busy:
			case s.filter.Admit != nil && !s.filter.Admit(e.domain):
				refused++
			default:
				admitted = append(admitted, e)
			}
		}
		s.claim(admitted)
		s.admitted = admitted
		if spent || !more {
			return last, !spent, nil
		}
	}
}

// read reads up to n entries from p.it on; more is false once it has met
// an entry beyond the pass or the end of the index. Malformed keys are
// passed over. The batch and its keys are valid until the next read.
func (s *dueScan) read(p pass, n int) (batch []dueEntry, more bool, err error) {
	batch, s.keys = s.batch[:0], s.keys[:0]
	defer func() { s.batch = batch }()
	for ; p.it.Valid(); p.it.Next() {
		item := p.it.Item()
		due, id, ok := parseDueKey(item.Key())
		if !ok {
			continue
		}
		if p.head && s.first.IsZero() {
			s.first = due
		}
		if p.beyond != nil && p.beyond(item.Key()) {
			return batch, false, nil
		}
		if len(batch) == n {
			return batch, true, nil
		}
		start := len(s.keys)
		s.keys = append(s.keys, item.Key()...)
		e := dueEntry{claim: claim{id: id, key: s.keys[start:len(s.keys):len(s.keys)]}}
		if err := item.Value(func(v []byte) error {
			e.kind, e.size, e.domain, e.counted = parseDueValue(v)
			return nil
		}); err != nil {
			return batch, false, err
		}
		batch = append(batch, e)
	}
	return batch, false, nil
}

// markBusy notes which entries are leased now.
func (q *Queue) markBusy(batch []dueEntry) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i := range batch {
		_, batch[i].busy = q.leased[batch[i].id]
	}
}

// claim marks the admitted entries that are still free and as the
// snapshot shows them as leased, and adds them to s.claimed.
func (s *dueScan) claim(admitted []dueEntry) {
	if len(admitted) == 0 {
		return
	}
	q := s.q
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, e := range admitted {
		if _, busy := q.leased[e.id]; busy || s.moved[e.id] {
			continue // another lease took it, or it changed, after the snapshot
		}
		q.leased[e.id] = e.kind
		c := e.claim
		c.key = bytes.Clone(c.key) // the batch's keys are reused
		s.claimed = append(s.claimed, c)
	}
}

// moved tells the running scans that id's due entry has changed, or that
// a claim of it was given back; q.mu must be held. Every change to a due
// entry of a message not leased by the writer happens under q.mu and is
// reported here, and a scan registers before it opens its snapshot, so a
// scan never claims a message by an entry that is no longer there.
func (q *Queue) moved(id ID) {
	for s := range q.scanning {
		if s.moved == nil {
			s.moved = make(map[ID]bool)
		}
		s.moved[id] = true
	}
}

// unclaim gives back claims that will not be leased.
func (q *Queue) unclaim(claimed []claim) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, c := range claimed {
		delete(q.leased, c.id)
	}
}

// sweepMark is where the last filtered scan's sweep stopped short, so
// that the next one goes on from there.
type sweepMark struct {
	mu  sync.Mutex
	key []byte // nil: start the sweep where the head pass stops
}

// from is where a sweep after a head pass that stopped at last begins:
// the key after last, or after the mark if that is further on.
func (m *sweepMark) from(last []byte) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	from := last
	if m.key != nil && string(m.key) > string(last) {
		from = m.key
	}
	return append(from[:len(from):len(from)], 0)
}

// advance moves the mark on to last, never back.
func (m *sweepMark) advance(last []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.key == nil || string(m.key) < string(last) {
		m.key = append(m.key[:0], last...)
	}
}

// set puts the mark at key; nil clears it.
func (m *sweepMark) set(key []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if key == nil {
		m.key = nil
		return
	}
	m.key = append(m.key[:0], key...)
}

// passes runs the head pass from start and, when a refusal limit stopped
// it short of the end, the sweep and then the tail.
func (s *dueScan) passes(start time.Time) error {
	last, atEnd, err := s.head(start)
	if err != nil || atEnd || s.filter.MaxSkipped <= 0 {
		s.q.sweep.set(nil)
		return err
	}
	if len(s.claimed) >= s.max {
		s.q.sweep.advance(last) // the sweep keeps its place for the next scan
		return nil
	}
	// Go on where the previous sweep stopped (or from here), so that
	// successive scans sweep the whole backlog in due order and mail a
	// deep scan found but had no worker for goes first.
	if last, atEnd, err = s.sweep(s.q.sweep.from(last)); err != nil {
		return err
	}
	if atEnd {
		s.q.sweep.set(nil)
		return nil
	}
	s.q.sweep.set(last)
	if s.filter.Tail <= 0 || len(s.claimed) >= s.max {
		return nil
	}
	return s.tail(last) // what just arrived
}
