package queue

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/mxout/mxout/internal/testclock"
)

// spaceQueue opens a queue whose free space the test sets, with a reserve
// of 100 MiB (so an emergency margin of 50 MiB).
func spaceQueue(t *testing.T, c *testclock.Clock) (*Queue, *atomic.Int64) {
	t.Helper()
	var free atomic.Int64
	free.Store(1 << 40)
	opts := testOptions(t.TempDir(), c)
	opts.MinFreeBytes = 100 << 20
	opts.FreeSpace = func(string) (int64, error) { return free.Load(), nil }
	q := mustOpen(t, opts)
	t.Cleanup(func() { q.Close() })
	return q, &free
}

// TestSpace_EveryWriteRespectsTheReserve: below the reserve nothing new
// starts (no new mail, no lease, no hold, release, retry or flush), but
// the results of deliveries already made, returned leases and deletes are
// still written down to the emergency margin; below that, nothing is.
func TestSpace_EveryWriteRespectsTheReserve(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, free := spaceQueue(t, c)
	var ids []ID
	for range 4 {
		ids = append(ids, mustEnqueue(t, q, env("a@x.example", "b@y.example"), "hello"))
	}
	leased, err := q.Lease(c.Now(), 2)
	if err != nil || len(leased) != 2 {
		t.Fatalf("lease = %d, %v", len(leased), err)
	}
	var idle []ID // the two not leased
	for _, id := range ids {
		if !q.Leased(id) {
			idle = append(idle, id)
		}
	}
	delivered := Update{Results: []Result{{Index: 0, State: Delivered, Attempted: c.Now(), Response: "250 ok"}}}

	free.Store(100<<20 - 1) // below the reserve, above the emergency margin
	refused := map[string]func() error{
		"enqueue": func() error {
			_, err := q.Enqueue(context.Background(), "", env("a@x.example", "b@y.example"), []byte("hello"))
			return err
		},
		"lease": func() error {
			jobs, err := q.Lease(c.Now(), 10)
			if len(jobs) > 0 {
				t.Errorf("leased %d messages below the reserve", len(jobs))
			}
			return err
		},
		"hold":    func() error { return q.Hold(idle[0]) },
		"retry":   func() error { return q.Retry(idle[0]) },
		"release": func() error { return q.Release(idle[0]) },
		"flush":   func() error { _, err := q.Flush(); return err },
	}
	for op, do := range refused {
		if err := do(); !errors.Is(err, ErrNoSpace) {
			t.Errorf("%s below the reserve = %v, want ErrNoSpace", op, err)
		}
	}
	if _, err := q.Complete(leased[0].ID, delivered); err != nil {
		t.Errorf("complete of a delivery made, below the reserve = %v", err)
	}
	if err := q.Delete(idle[1]); err != nil {
		t.Errorf("delete below the reserve = %v", err)
	}
	wantStats(t, q, 1, 0, 1, 0)

	free.Store(50<<20 - 1) // below the emergency margin
	if _, err := q.Complete(leased[1].ID, delivered); !errors.Is(err, ErrNoSpace) {
		t.Errorf("complete below the emergency margin = %v, want ErrNoSpace", err)
	}
	if err := q.Delete(idle[0]); !errors.Is(err, ErrNoSpace) {
		t.Errorf("delete below the emergency margin = %v, want ErrNoSpace", err)
	}
	runs := q.gcRuns.Load()
	if q.RunGC(); q.gcRuns.Load() != runs {
		t.Error("value log GC ran below the emergency margin")
	}
	wantStats(t, q, 2, 0, 0, 0) // the failed complete ended the lease: due again after it

	free.Store(1 << 40)
	c.Advance(q.opts.LeaseDuration)
	jobs, err := q.Lease(c.Now(), 10)
	if err != nil || len(jobs) != 2 {
		t.Fatalf("lease after space returned = %d, %v; want the two left", len(jobs), err)
	}
}

func TestReturnLease_EmergencyMargin(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, free := spaceQueue(t, c)
	mustEnqueue(t, q, env("a@x.example", "b@y.example"), "hello")
	mustEnqueue(t, q, env("a@x.example", "b@y.example"), "hello")
	jobs, err := q.Lease(c.Now(), 2)
	if err != nil || len(jobs) != 2 {
		t.Fatalf("lease = %d, %v", len(jobs), err)
	}
	free.Store(100<<20 - 1)
	if err := q.ReturnLease(jobs[0].ID); err != nil {
		t.Errorf("return lease below the reserve = %v", err)
	}
	free.Store(50<<20 - 1)
	if err := q.ReturnLease(jobs[1].ID); !errors.Is(err, ErrNoSpace) {
		t.Errorf("return lease below the emergency margin = %v, want ErrNoSpace", err)
	}
	wantStats(t, q, 2, 0, 0, 0)
}
