package queue

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// scanOf starts a dueScan at now on a snapshot of q, as claimDue does,
// for testing one pass at a time.
func scanOf(t *testing.T, q *Queue, now time.Time, max int, filter LeaseFilter) *dueScan {
	t.Helper()
	txn := q.db.NewTransaction(false)
	t.Cleanup(txn.Discard)
	return &dueScan{q: q, txn: txn, end: dueKeyUpTo(now), max: max, filter: filter}
}

// keyOf is the due-index key of a message that has not been leased yet:
// it is due at its arrival, which its ID holds.
func keyOf(id ID) []byte { return dueKey(id.Time(), id) }

func claimedIDs(s *dueScan) []ID {
	var out []ID
	for _, c := range s.claimed {
		out = append(out, c.id)
	}
	return out
}

func refuse(domain string) LeaseFilter {
	return LeaseFilter{Admit: func(d string) bool { return d != domain }}
}

// The head pass walks from the floor in due order, records the first
// entry (even one not due yet), passes over leased messages, and stops
// at the refusal budget with the last entry it looked at.
func TestDueScan_Head(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, _ := openTest(t, c)
	fast := enqueueTo(t, q, c, 2, "fast.example")
	slow := enqueueTo(t, q, c, 3, "slow.example")
	late := enqueueTo(t, q, c, 1, "fast.example")
	now := c.Now()
	c.Advance(time.Hour)
	enqueueTo(t, q, c, 1, "fast.example") // not due at now

	// Unlimited: every due fast.example message, up to the end.
	s := scanOf(t, q, now, 10, refuse("slow.example"))
	last, atEnd, err := s.head(time.Time{})
	if err != nil || !atEnd {
		t.Fatalf("head = %v, %v; want the end reached", atEnd, err)
	}
	if got, want := claimedIDs(s), append(slices.Clone(fast), late...); !slices.Equal(got, want) {
		t.Errorf("claimed %v, want %v", got, want)
	}
	if string(last) != string(keyOf(late[0])) {
		t.Errorf("last = %x, want the last due entry", last)
	}
	if want := fast[0].Time(); !s.first.Equal(want) {
		t.Errorf("first = %v, want %v", s.first, want)
	}
	q.unclaim(s.claimed)

	// A leased message is looked at but not claimed; two refusals end
	// the pass at the second slow message.
	q.mu.Lock()
	q.leased[fast[1]] = kindReady
	q.mu.Unlock()
	s = scanOf(t, q, now, 10, LeaseFilter{Admit: refuse("slow.example").Admit, MaxSkipped: 2})
	last, atEnd, err = s.head(time.Time{})
	if err != nil || atEnd {
		t.Fatalf("head = %v, %v; want a stop short of the end", atEnd, err)
	}
	if got := claimedIDs(s); !slices.Equal(got, fast[:1]) {
		t.Errorf("claimed %v, want %v", got, fast[:1])
	}
	if string(last) != string(keyOf(slow[1])) {
		t.Errorf("last = %x, want the second refused entry", last)
	}
	q.unclaim(append(s.claimed, claim{id: fast[1]}))

	// Nothing due: the first entry seen is the future one.
	s = scanOf(t, q, now.Add(-time.Hour), 10, LeaseFilter{})
	if _, atEnd, _ := s.head(time.Time{}); !atEnd || len(s.claimed) != 0 {
		t.Errorf("head before anything is due: at end %v, claimed %d", atEnd, len(s.claimed))
	}
	if want := fast[0].Time(); !s.first.Equal(want) {
		t.Errorf("first = %v, want the oldest entry's %v", s.first, want)
	}
}

// A pass whose budget runs out on the last due entry has still reached
// the end: there is nothing after it to sweep.
func TestDueScan_HeadFullAtTheLastEntry(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, _ := openTest(t, c)
	ids := enqueueTo(t, q, c, 3, "fast.example")
	s := scanOf(t, q, c.Now(), 3, LeaseFilter{MaxSkipped: 1})
	if _, atEnd, err := s.head(time.Time{}); err != nil || !atEnd || !slices.Equal(claimedIDs(s), ids) {
		t.Errorf("head = %v claimed, at end %v, %v; want all three and the end", claimedIDs(s), atEnd, err)
	}
	enqueueTo(t, q, c, 1, "fast.example")
	s = scanOf(t, q, c.Now(), 3, LeaseFilter{MaxSkipped: 1})
	q.unclaim(claimedIDsAsClaims(ids))
	if _, atEnd, _ := s.head(time.Time{}); atEnd {
		t.Error("head full before the last entry says it reached the end")
	}
}

func claimedIDsAsClaims(ids []ID) []claim {
	var out []claim
	for _, id := range ids {
		out = append(out, claim{id: id})
	}
	return out
}

// The sweep starts at the key it is given, not at the floor; the tail
// walks back from the newest due entry, down to the key a forward pass
// reached or to its refusal budget. Neither moves the floor.
func TestDueScan_SweepAndTail(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, _ := openTest(t, c)
	old := enqueueTo(t, q, c, 1, "fast.example")
	enqueueTo(t, q, c, 2, "slow.example")
	middle := enqueueTo(t, q, c, 2, "fast.example")
	slow := enqueueTo(t, q, c, 3, "slow.example")
	newest := enqueueTo(t, q, c, 2, "fast.example")
	now := c.Now()
	c.Advance(time.Hour)
	enqueueTo(t, q, c, 1, "fast.example") // not due: the tail starts below it
	notSlow := refuse("slow.example").Admit

	s := scanOf(t, q, now, 10, LeaseFilter{Admit: notSlow, MaxSkipped: 3})
	last, atEnd, err := s.sweep(append(keyOf(old[0]), 0))
	if err != nil || atEnd || !slices.Equal(claimedIDs(s), middle) {
		t.Fatalf("sweep claimed %v, at end %v, %v; want %v and a stop at the third refusal", claimedIDs(s), atEnd, err, middle)
	}
	if string(last) != string(keyOf(slow[0])) || !s.first.IsZero() {
		t.Errorf("sweep: last %x, first %v; want the third refused entry, and no first", last, s.first)
	}
	q.unclaim(s.claimed)

	s = scanOf(t, q, now, 10, LeaseFilter{Admit: notSlow, Tail: 10})
	if err := s.tail(keyOf(middle[0])); err != nil {
		t.Fatal(err)
	}
	if got, want := claimedIDs(s), []ID{newest[1], newest[0], middle[1]}; !slices.Equal(got, want) {
		t.Errorf("tail down to the first middle message claimed %v, want %v", got, want)
	}
	q.unclaim(s.claimed)

	s = scanOf(t, q, now, 10, LeaseFilter{Admit: notSlow, Tail: 2})
	if err := s.tail(nil); err != nil {
		t.Fatal(err)
	}
	if got, want := claimedIDs(s), []ID{newest[1], newest[0]}; !slices.Equal(got, want) || !s.first.IsZero() {
		t.Errorf("tail with two refusals claimed %v (first %v), want %v", got, s.first, want)
	}
}

// The filter runs with no lock of the queue held: it may even call the
// queue. A message it holds meanwhile is not leased, and one that a
// concurrent lease took is not leased twice.
func TestDueScan_FilterRunsWithoutLocks(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, _ := openTest(t, c)
	held := enqueueTo(t, q, c, 1, "held.example")[0]
	other := enqueueTo(t, q, c, 1, "fast.example")[0]
	done := make(chan []*Message, 1)
	go func() {
		jobs, err := q.LeaseFiltered(c.Now(), 10, LeaseFilter{Admit: func(d string) bool {
			if !q.mu.TryLock() || !q.sweep.mu.TryLock() {
				t.Error("the filter runs under a lock of the queue")
			} else {
				q.sweep.mu.Unlock()
				q.mu.Unlock()
			}
			if d == "held.example" {
				if err := q.Hold(held); err != nil {
					t.Errorf("hold from the filter: %v", err)
				}
			}
			return true
		}, MaxSkipped: 4, Tail: 4})
		if err != nil {
			t.Error(err)
		}
		done <- jobs
	}()
	var jobs []*Message
	select {
	case jobs = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("LeaseFiltered did not return: the filter ran under the queue's lock")
	}
	if got := ids(jobs); !slices.Equal(got, []ID{other}) {
		t.Errorf("leased %v, want only %s (the other was held during the scan)", got, other)
	}
	if m, err := q.Get(held); err != nil || !m.Held || q.Leased(held) {
		t.Errorf("the held message: %+v, %v, leased %v; want held, not leased", m, err, q.Leased(held))
	}
	wantStats(t, q, 0, 0, 1, 1)
	if err := q.Release(held); err != nil {
		t.Fatal(err)
	}
	if jobs, _ := q.Lease(c.Now(), 10); !slices.Equal(ids(jobs), []ID{held}) {
		t.Errorf("after release leased %v, want %s", ids(jobs), held)
	}
}

// Concurrent scans never lease a message twice.
func TestDueScan_ConcurrentScans(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, _ := openTest(t, c)
	all := enqueueTo(t, q, c, 60, "fast.example")
	var (
		mu   sync.Mutex
		seen = map[ID]int{}
		wg   sync.WaitGroup
	)
	for range 4 {
		wg.Go(func() {
			for {
				jobs, err := q.LeaseFiltered(c.Now(), 3, LeaseFilter{Admit: func(string) bool { return true }, MaxSkipped: 2, Tail: 2})
				if err != nil {
					t.Error(err)
					return
				}
				if len(jobs) == 0 {
					if next, ok := q.NextDue(); !ok || next.After(c.Now()) {
						return
					}
					continue
				}
				mu.Lock()
				for _, m := range jobs {
					seen[m.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, id := range all {
		if seen[id] != 1 {
			t.Errorf("%s leased %d times, want once", id, seen[id])
		}
	}
}
