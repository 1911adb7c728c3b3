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
// accepts again once space returns.
func TestEnqueue_RealDiskFull(t *testing.T) {
	dir := testfs.MountTmpfs(t, "48m", "the injected-space test still covers the logic")
	c := newClock()
	opts := testOptions(filepath.Join(dir, "q"), c)
	opts.MemtableBytes = 2 << 20
	opts.ValueLogFileBytes = 4 << 20
	opts.MaxMessageBytes = 256 << 10
	opts.MinFreeBytes = 3*opts.MemtableBytes + 2*opts.ValueLogFileBytes + 2*(256<<10)
	q, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()

	// Leave a little room: a ballast file takes most of the tmpfs.
	ballast := filepath.Join(dir, "ballast")
	free, _ := statfsFree(dir)
	if err := os.WriteFile(ballast, make([]byte, free-opts.MinFreeBytes-(4<<20)), 0o600); err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("0123456789abcdef"), 256<<10/16)
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
	// Delivery keeps working while full: lease and complete do not grow the disk much.
	jobs, err := q.Lease(c.Now(), 5)
	if err != nil || len(jobs) == 0 {
		t.Fatalf("lease on a full disk: %v", err)
	}
	for _, m := range jobs {
		if _, err := q.Complete(m.ID, Update{Results: []Result{{Index: 0, State: Delivered, Attempted: time.Now()}}}); err != nil {
			t.Fatalf("complete on a full disk: %v", err)
		}
	}

	os.Remove(ballast)
	if err := q.Writable(); err != nil {
		t.Fatalf("still not writable after space returned: %v", err)
	}
	if _, err := q.Enqueue(context.Background(), "", env("a@x.example", "b@y.example"), body); err != nil {
		t.Fatalf("enqueue after space returned: %v", err)
	}
}
