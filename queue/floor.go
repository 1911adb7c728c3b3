package queue

import (
	"math"
	"sync"
	"time"
)

// indexFloor remembers where the live entries of a time-ordered index
// begin (the due index, or the message records, whose IDs sort by
// arrival), so that a scan seeks past the deletions that delivered
// messages leave at its front. Badger keeps a deleted key until
// compaction reaches the bottom level; a scan from the start steps over
// every one of them: on a draining backlog each Lease, and finding the
// oldest message at every metrics scrape, cost more with every message
// already delivered (docs/benchmarks.md, "Queue at scale", has the
// figures).
//
// Times are Unix nanoseconds: a due time, or the time in a queue ID.
//
// Invariant: every committed entry is at or after floor. Writers keep it
// by calling note before they commit an entry (note lowers floor), and a
// scan raises floor only to the first entry it saw, bounded by the entries
// of writers that were still pending when it began or that noted while it
// ran: those may be committed yet invisible to its snapshot. Deleting
// entries, or rewriting an entry in place, never breaks the invariant.
type indexFloor struct {
	mu      sync.Mutex
	floor   int64            // Unix nanoseconds
	pending map[uint64]int64 // writers between note and done: the time they write
	seq     uint64
	// scans are the scans between begin and end: the earliest time
	// noted since each began. Scans may overlap.
	scans map[uint64]int64
}

// floorScan is one scan between begin and end.
type floorScan struct {
	id    uint64
	bound int64 // the earliest time of a writer pending at begin
}

func newIndexFloor() *indexFloor {
	return &indexFloor{pending: make(map[uint64]int64), scans: make(map[uint64]int64)}
}

// note announces a due entry at t that is about to be committed. The
// writer must call done once the commit has succeeded or failed.
func (f *indexFloor) note(t time.Time) (done func()) {
	n := max(t.UnixNano(), 0)
	f.mu.Lock()
	f.seq++
	id := f.seq
	f.pending[id] = n
	f.floor = min(f.floor, n)
	for scan, noted := range f.scans {
		f.scans[scan] = min(noted, n)
	}
	f.mu.Unlock()
	return func() {
		f.mu.Lock()
		delete(f.pending, id)
		f.mu.Unlock()
	}
}

// start is where a scan that does not raise the floor may begin.
func (f *indexFloor) start() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return time.Unix(0, f.floor)
}

// begin starts a scan; the caller opens its read snapshot after begin
// returns, and ends the scan with end. It returns where to start.
func (f *indexFloor) begin() (start time.Time, s floorScan) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	s = floorScan{id: f.seq, bound: math.MaxInt64}
	for _, n := range f.pending {
		s.bound = min(s.bound, n)
	}
	f.scans[s.id] = math.MaxInt64
	return time.Unix(0, f.floor), s
}

// end finishes scan s, which saw its first entry at first (zero time: none
// at all), and raises the floor as far as is safe: to first, unless a
// writer pending at begin, or one that noted since, writes below it. A
// scan that failed passes the start begin gave it, which raises nothing.
func (f *indexFloor) end(first time.Time, s floorScan) {
	n := int64(math.MaxInt64)
	if !first.IsZero() {
		n = first.UnixNano()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.floor = max(f.floor, min(n, s.bound, f.scans[s.id]))
	delete(f.scans, s.id)
}
