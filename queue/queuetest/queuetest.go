// Package queuetest opens real queues for the tests of the packages that
// use one, with badger sizes small enough for many tests to run at once.
package queuetest

import (
	"testing"
	"time"

	"github.com/mxout/mxout/queue"
)

// Options are a test queue's options in dir: 4 MiB memtables, 1 MiB
// caches, 8 MiB value log files, no free-space reserve to speak of (one
// byte) and a 30 s lease. A test changes what it is about before Open.
func Options(dir string) queue.Options {
	return queue.Options{
		Dir:               dir,
		MinFreeBytes:      1,
		LeaseDuration:     30 * time.Second,
		MemtableBytes:     4 << 20,
		NumMemtables:      2,
		BlockCacheBytes:   1 << 20,
		IndexCacheBytes:   1 << 20,
		ValueLogFileBytes: 8 << 20,
		ValueThreshold:    1024,
	}
}

// Open opens a queue with opts, failing the test on an error, and closes
// it when the test ends (Close may come earlier too).
func Open(t testing.TB, opts queue.Options) *queue.Queue {
	t.Helper()
	q, err := queue.Open(opts)
	if err != nil {
		t.Fatalf("open the test queue: %v", err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}
