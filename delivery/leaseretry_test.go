package delivery

import (
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/internal/testlog"
	"github.com/mxout/mxout/internal/testwait"
	"github.com/mxout/mxout/queue/queuetest"
)

func TestLeaseRetry_Doubles(t *testing.T) {
	t.Parallel()
	var r leaseRetry
	want := []time.Duration{10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000}
	for i, w := range want {
		if got := r.failed(); got != w*time.Millisecond {
			t.Errorf("wait after failure %d = %v, want %v", i+1, got, w*time.Millisecond)
		}
	}
	if n := r.succeeded(); n != len(want) {
		t.Errorf("succeeded after %d failures reports %d", len(want), n)
	}
	if got := r.failed(); got != leaseRetryMin {
		t.Errorf("first wait after a success = %v", got)
	}
}

// freeSpace is a disk whose free space the test sets; it notes when the
// queue asked (every lease asks first).
type freeSpace struct {
	bytes atomic.Int64
	mu    sync.Mutex
	asked []time.Time
}

func (f *freeSpace) free(string) (int64, error) {
	f.mu.Lock()
	f.asked = append(f.asked, time.Now())
	f.mu.Unlock()
	return f.bytes.Load(), nil
}

// askedSince returns the times the queue asked from the n-th call on.
func (f *freeSpace) askedSince(n int) []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.asked[min(n, len(f.asked)):]...)
}

// TestEngine_WaitsBelowTheDiskReserve: with the disk below the queue's
// reserve, the engine leases nothing and delivers nothing; it tries again
// with a doubling wait (not every millisecond, as it once did), logging
// the first failure only; once space returns it delivers within the 1 s
// cap.
func TestEngine_WaitsBelowTheDiskReserve(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	disk := &freeSpace{}
	disk.bytes.Store(1 << 40)
	w.q.Close()
	opts := queuetest.Options(t.TempDir())
	opts.MinFreeBytes, opts.FreeSpace = 64<<20, disk.free
	w.q = queuetest.Open(t, opts)
	mx := w.mx("reserve.example", 10, smtptest.Options{})
	logs := &testlog.Buffer{}
	w.cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	w.enqueue("app@sender.example", "u@reserve.example")

	disk.bytes.Store(64<<20 - 1)
	from := len(disk.askedSince(0))
	w.start()
	const tries = 8 // waits of 10, 20, ..., 640 ms between them
	testwait.Until(20*time.Second, func() bool { return len(disk.askedSince(from)) >= tries })
	asked := disk.askedSince(from)
	if len(asked) < tries {
		t.Fatalf("the engine asked to lease %d times in 20 s", len(asked))
	}
	if n := len(mx.Messages()); n != 0 {
		t.Fatalf("%d messages delivered below the disk reserve", n)
	}
	if gap, least := asked[tries-1].Sub(asked[0]), 1270*time.Millisecond; gap < least {
		t.Errorf("%d lease attempts within %v, want them at least %v apart in all (a doubling wait from 10 ms)", tries, gap, least)
	}
	if n := strings.Count(logs.String(), "lease failed"); n != 1 {
		t.Errorf("%d log lines about the failed leases at info level, want 1:\n%s", n, logs.String())
	}

	disk.bytes.Store(1 << 40)
	start := time.Now()
	mx.WaitMessages(t, 1, 10*time.Second)
	t.Logf("delivered %v after space returned", time.Since(start).Round(time.Millisecond))
	if !strings.Contains(logs.String(), "leasing works again") {
		t.Errorf("no log line about the recovery:\n%s", logs.String())
	}
}
