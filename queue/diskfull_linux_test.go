package queue

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mxout/mxout/internal/testfs"
)

// TestEnqueue_RealDiskFull fills a small tmpfs through the queue. Badger
// must never be the one to find the disk full (it would die of SIGBUS):
// the queue answers ErrNoSpace first, keeps what it accepted readable, and
// accepts again once space returns. Below the reserve no delivery starts,
// but deliveries already made are still recorded.
func TestEnqueue_RealDiskFull(t *testing.T) {
	dir := testfs.MountTmpfs(t, "48m", "the injected-space tests (TestSpace_*) still cover the logic")
	c := newClock()
	opts := testOptions(filepath.Join(dir, "q"), c)
	opts.MemtableBytes = 2 << 20
	opts.ValueLogFileBytes = 4 << 20
	opts.MaxMessageBytes = 256 << 10
	opts.MinFreeBytes = 3*opts.MemtableBytes + 2*opts.ValueLogFileBytes + 2*(256<<10)
	q := mustOpen(t, opts)
	defer q.Close()
	body := bytes.Repeat([]byte("0123456789abcdef"), 256<<10/16)

	// Deliveries in flight when the disk fills.
	for range 5 {
		if _, err := q.Enqueue(context.Background(), "", env("a@x.example", "b@y.example"), body); err != nil {
			t.Fatal(err)
		}
	}
	inflight, err := q.Lease(c.Now(), 5)
	if err != nil || len(inflight) != 5 {
		t.Fatalf("lease = %d, %v", len(inflight), err)
	}

	// Leave a little room: a ballast file takes most of the tmpfs.
	ballast := filepath.Join(dir, "ballast")
	free, _ := statfsFree(dir)
	if err := os.WriteFile(ballast, make([]byte, free-opts.MinFreeBytes-(4<<20)), 0o600); err != nil {
		t.Fatal(err)
	}
	var accepted []ID
	var refusal error
	for i := 0; i < 200 && refusal == nil; i++ {
		id, err := q.Enqueue(context.Background(), "", env("a@x.example", "b@y.example"), body)
		if err != nil {
			refusal = err
			break
		}
		accepted = append(accepted, id)
	}
	if !errors.Is(refusal, ErrNoSpace) {
		t.Fatalf("after %d messages the queue answered %v, want ErrNoSpace", len(accepted), refusal)
	}
	if len(accepted) == 0 {
		t.Fatal("nothing fit before the reserve; the test setup is wrong")
	}
	if err := q.Writable(); err == nil {
		t.Error("Writable reports ok on a full disk")
	}
	for _, id := range accepted {
		if b, err := q.Body(id); err != nil || !bytes.Equal(b, body) {
			t.Fatalf("accepted message %s unreadable on a full disk: %v", id, err)
		}
	}

	// Another file takes the disk below the reserve, but not below the
	// emergency margin (half of it).
	ballast2 := filepath.Join(dir, "ballast2")
	free, _ = statfsFree(dir)
	if extra := free - opts.MinFreeBytes*3/4; extra > 0 {
		if err := os.WriteFile(ballast2, make([]byte, extra), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if jobs, err := q.Lease(c.Now(), 5); !errors.Is(err, ErrNoSpace) || len(jobs) != 0 {
		t.Fatalf("lease below the reserve = %d jobs, %v; want ErrNoSpace", len(jobs), err)
	}
	for _, m := range inflight {
		if _, err := q.Complete(m.ID, Update{Results: []Result{{Index: 0, State: Delivered, Attempted: time.Now()}}}); err != nil {
			t.Fatalf("complete of a delivery made, below the reserve: %v", err)
		}
	}

	os.Remove(ballast)
	os.Remove(ballast2)
	if err := q.Writable(); err != nil {
		t.Fatalf("still not writable after space returned: %v", err)
	}
	if jobs, err := q.Lease(c.Now(), 5); err != nil || len(jobs) != 5 {
		t.Fatalf("lease after space returned = %d, %v", len(jobs), err)
	}
	if _, err := q.Enqueue(context.Background(), "", env("a@x.example", "b@y.example"), body); err != nil {
		t.Fatalf("enqueue after space returned: %v", err)
	}
}
