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
		run  func(f *dueFloor)
		want int64
	}{
		{"raised to the first entry seen", func(f *dueFloor) {
			_, b := f.begin()
			f.end(at(50), b)
		}, 50},
		{"nothing seen: raised past everything", func(f *dueFloor) {
			_, b := f.begin()
			f.end(time.Time{}, b)
		}, 1<<63 - 1},
		{"a writer pending at the start bounds the raise", func(f *dueFloor) {
			done := f.note(at(30))
			_, b := f.begin()
			f.end(at(50), b)
			done()
		}, 30},
		{"a writer noting during the scan bounds the raise", func(f *dueFloor) {
			_, b := f.begin()
			f.note(at(20))()
			f.end(at(50), b)
		}, 20},
		{"a note lowers the floor", func(f *dueFloor) {
			_, b := f.begin()
			f.end(at(50), b)
			f.note(at(10))()
		}, 10},
		{"a finished writer does not bound the next scan", func(f *dueFloor) {
			f.note(at(30))()
			_, b := f.begin()
			f.end(at(50), b)
		}, 50},
		{"the floor never goes back from a raise", func(f *dueFloor) {
			_, b := f.begin()
			f.end(at(50), b)
			_, b = f.begin()
			f.end(at(40), b) // an entry below the floor cannot exist; keep 50
		}, 50},
	}
	for _, tt := range tests {
		f := newDueFloor()
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
// the due index against the scans that move the floor: if a scan ever
// raised the floor past a live entry, that message would never be leased
// again and the test would time out.
func TestLease_NothingStrandedUnderConcurrentWrites(t *testing.T) {
	t.Parallel()
	opts := testOptions(t.TempDir(), newClock())
	opts.Now = time.Now
	opts.LeaseDuration = 20 * time.Millisecond
	q, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
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
}
