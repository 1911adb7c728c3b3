package queue

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

func TestDueFloor_RaiseIsBoundedByWriters(t *testing.T) {
	t.Parallel()
	at := func(n int64) time.Time { return time.Unix(0, n) }
	tests := []struct {
		name string
		run  func(f *indexFloor)
		want int64
	}{
		{"raised to the first entry seen", func(f *indexFloor) {
			_, b := f.begin()
			f.end(at(50), b)
		}, 50},
		{"nothing seen: raised past everything", func(f *indexFloor) {
			_, b := f.begin()
			f.end(time.Time{}, b)
		}, 1<<63 - 1},
		{"a writer pending at the start bounds the raise", func(f *indexFloor) {
			done := f.note(at(30))
			_, b := f.begin()
			f.end(at(50), b)
			done()
		}, 30},
		{"a writer noting during the scan bounds the raise", func(f *indexFloor) {
			_, b := f.begin()
			f.note(at(20))()
			f.end(at(50), b)
		}, 20},
		{"a note lowers the floor", func(f *indexFloor) {
			_, b := f.begin()
			f.end(at(50), b)
			f.note(at(10))()
		}, 10},
		{"a finished writer does not bound the next scan", func(f *indexFloor) {
			f.note(at(30))()
			_, b := f.begin()
			f.end(at(50), b)
		}, 50},
		{"the floor never goes back from a raise", func(f *indexFloor) {
			_, b := f.begin()
			f.end(at(50), b)
			_, b = f.begin()
			f.end(at(40), b) // an entry below the floor cannot exist; keep 50
		}, 50},
	}
	for _, tt := range tests {
		f := newIndexFloor()
		tt.run(f)
		if got := f.start().UnixNano(); got != tt.want {
			t.Errorf("%s: floor %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestLease_SkipsWhatWasDelivered(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, _ := openTest(t, c)
	for i := 0; i < 300; i++ {
		mustEnqueue(t, q, env("a@x.example", "b@y.example"), "body")
		c.Advance(time.Millisecond)
	}
	for delivered := 0; delivered < 290; {
		jobs, _ := q.Lease(c.Now(), 10)
		for _, m := range jobs {
			if delivered == 290 {
				q.ReturnLease(m.ID)
				continue
			}
			q.Complete(m.ID, Update{Results: []Result{{Index: 0, State: Delivered, Attempted: c.Now()}}})
			delivered++
		}
	}
	left, _, _ := q.List(ListOptions{})
	if len(left) != 10 {
		t.Fatalf("%d left, want 10", len(left))
	}
	// The next scan starts at the first live entry, past 290 deletions.
	first := left[0].Due
	q.Lease(c.Now(), 1)
	for _, m := range left {
		first = minTime(first, m.Due)
	}
	if got := q.due.start(); !got.Equal(first) {
		t.Errorf("scans start at %v, want the first live entry at %v", got, first)
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// TestLease_NothingStrandedUnderConcurrentWrites races every writer of
// the due index and the message records against the scans that move their
// floors: if a scan ever raised the due floor past a live entry, that
// message would never be leased again and the test would time out; if it
// raised the record floor past one, the oldest message would be wrong.
func TestLease_NothingStrandedUnderConcurrentWrites(t *testing.T) {
	t.Parallel()
	opts := testOptions(t.TempDir(), newClock())
	opts.Now = time.Now
	opts.LeaseDuration = 20 * time.Millisecond
	q := mustOpen(t, opts)
	defer q.Close()
	const n = 400
	var wg sync.WaitGroup
	ids := make(chan ID, n)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				id, err := q.Enqueue(context.Background(), "", env("a@x.example", fmt.Sprintf("r%d@y.example", i)), []byte("body"))
				if err != nil {
					t.Error(err)
					return
				}
				ids <- id
			}
		}(w)
	}
	// An operator holding, releasing and retrying at random meanwhile.
	stopOps := make(chan struct{})
	go func() {
		for {
			select {
			case <-stopOps:
				return
			case id := <-ids:
				switch rand.IntN(3) {
				case 0:
					if q.Hold(id) == nil {
						time.Sleep(time.Millisecond)
						q.Release(id)
					}
				case 1:
					q.Retry(id)
				}
			}
		}
	}()
	delivered := 0
	deadline := time.Now().Add(60 * time.Second)
	for delivered < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d delivered; stats %+v: a message is stranded behind the scan floor", delivered, n, q.Stats())
		}
		jobs, err := q.Lease(time.Now(), 16)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range jobs {
			// m is queued, so the oldest message is no younger than it.
			if o := q.Stats().Oldest; o.IsZero() || o.After(m.ID.Time()) {
				t.Fatalf("oldest = %v while %s (arrived %v) is queued", o, m.ID, m.ID.Time())
			}
			switch rand.IntN(4) {
			case 0: // deferred a little
				q.Complete(m.ID, Update{Results: []Result{{Index: 0, State: Pending, NextAttempt: time.Now().Add(time.Duration(rand.IntN(5)) * time.Millisecond), Attempted: time.Now()}}})
			case 1: // returned, due again at once
				q.ReturnLease(m.ID)
			default:
				q.Complete(m.ID, Update{Results: []Result{{Index: 0, State: Delivered, Attempted: time.Now()}}})
				delivered++
			}
		}
		if len(jobs) == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	close(stopOps)
	wg.Wait()
	if o := q.Stats().Oldest; !o.IsZero() {
		t.Errorf("oldest = %v on an empty queue", o)
	}
}

func TestOldest_PastDeliveredAndBelowTheFloor(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, _ := openTest(t, c)
	early := NewID(c.Now().Add(-time.Hour)) // chosen by a slow submitter an hour ago
	var ids []ID
	for i := 0; i < 3; i++ {
		ids = append(ids, mustEnqueue(t, q, env("a@x.example", "b@y.example"), "body"))
		c.Advance(time.Minute)
	}
	jobs, _ := q.Lease(c.Now(), 2)
	for _, m := range jobs {
		q.Complete(m.ID, Update{Results: []Result{{Index: 0, State: Delivered, Attempted: c.Now()}}})
	}
	if got := q.Stats().Oldest; !got.Equal(ids[2].Time()) {
		t.Fatalf("oldest = %v, want the third message's arrival %v", got, ids[2].Time())
	}
	if got := q.arrivals.start(); !got.Equal(ids[2].Time()) {
		t.Errorf("record scans start at %v, want %v (past the two delivered)", got, ids[2].Time())
	}
	if _, err := q.Enqueue(context.Background(), early, env("a@x.example", "b@y.example"), []byte("late body")); err != nil {
		t.Fatal(err)
	}
	if got := q.Stats().Oldest; !got.Equal(early.Time()) {
		t.Errorf("oldest = %v after a message with an older ID arrived, want %v", got, early.Time())
	}
	page, _, _ := q.List(ListOptions{})
	if len(page) != 2 || page[0].ID != early || page[1].ID != ids[2] {
		t.Errorf("list = %v, want [%s %s]", page, early, ids[2])
	}
}
