package main

import (
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/mxout/mxout/queue"
)

// countQueued opens the queue in dir as the relay would and returns how
// many messages it holds, after checking that none is half-written.
func countQueued(t *testing.T, dir string) int64 {
	t.Helper()
	opts, err := options(dir)
	if err != nil {
		t.Fatal(err)
	}
	q, err := queue.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	c, err := q.Verify()
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Problems) > 0 {
		t.Fatalf("queue inconsistent: %v", c.Problems)
	}
	return total(q.Stats())
}

// TestFillStartupDrain runs the three commands docs/benchmarks.md uses
// for "Queue at scale" on a small queue: fill enqueues exactly n
// messages, startup runs the real binary on them and leaves them queued,
// and drain completes every one.
func TestFillStartupDrain(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	const n = 300
	if err := fill(dir, n, 1500, 7, 16); err != nil {
		t.Fatalf("fill: %v", err)
	}
	if got := countQueued(t, dir); got != n {
		t.Fatalf("after fill: %d messages queued, want %d", got, n)
	}
	if testing.Short() {
		t.Skip("-short: no build of cmd/mxout")
	}

	bin := filepath.Join(t.TempDir(), "mxout")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/mxout").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if err := startup(dir, bin, 200*time.Millisecond); err != nil {
		t.Fatalf("startup: %v", err)
	}
	if got := countQueued(t, dir); got != n {
		t.Fatalf("after startup: %d messages queued, want %d (its relay must not deliver nor lose any)", got, n)
	}

	if err := drain(dir, 8); err != nil {
		t.Fatalf("drain: %v", err)
	}
	if got := countQueued(t, dir); got != 0 {
		t.Fatalf("after drain: %d messages queued, want 0", got)
	}
}
