package queue

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestOpenReadOnly_LockedWhileOpenThenReadable(t *testing.T) {
	t.Parallel()
	c := newClock()
	opts := testOptions(t.TempDir(), c)
	q := mustOpen(t, opts)
	id := mustEnqueue(t, q, env("a@x.example", "b@y.example"), "Subject: hi\r\n\r\nbody")
	held := mustEnqueue(t, q, env("a@x.example", "c@y.example"), "body")
	if err := q.Hold(held); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenReadOnly(opts); !errors.Is(err, ErrLocked) {
		t.Fatalf("read-only open beside a read-write one = %v, want ErrLocked", err)
	}
	q.Close()

	ro, err := OpenReadOnly(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if !ro.ReadOnly() {
		t.Error("ReadOnly() = false")
	}
	wantStats(t, ro, 1, 0, 0, 1)
	if m, err := ro.Get(id); err != nil || m.Recipients[0].Addr != "b@y.example" {
		t.Errorf("get = %+v, %v", m, err)
	}
	if h, err := ro.Headers(id); err != nil || string(h) != "Subject: hi\r\n" {
		t.Errorf("headers = %q, %v", h, err)
	}
	if page, err := ro.ListPage(ListOptions{State: "held"}); err != nil || len(page.Messages) != 1 || page.Messages[0].ID != held {
		t.Errorf("list held = %+v, %v", page, err)
	}
	if c, err := ro.Verify(); err != nil || !c.OK() || c.Messages != 2 {
		t.Errorf("verify = %+v, %v", c, err)
	}
	writes := map[string]error{
		"hold":     ro.Hold(id),
		"release":  ro.Release(held),
		"retry":    ro.Retry(id),
		"delete":   ro.Delete(id),
		"writable": ro.Writable(),
	}
	_, writes["enqueue"] = ro.Enqueue(t.Context(), "", env("a@x.example", "b@y.example"), []byte("x"))
	_, writes["flush"] = ro.Flush()
	_, writes["lease"] = ro.Lease(c.Now(), 10)
	for op, err := range writes {
		if !errors.Is(err, ErrReadOnly) {
			t.Errorf("%s on a read-only queue = %v, want ErrReadOnly", op, err)
		}
	}
	if n := ro.RunGC(); n != 0 {
		t.Errorf("GC on a read-only queue rewrote %d files", n)
	}
	// Two read-only opens may share the directory.
	ro2, err := OpenReadOnly(opts)
	if err != nil {
		t.Fatalf("second read-only open: %v", err)
	}
	ro2.Close()
}

func TestOpenReadOnly_AfterCrashNeedsRecovery(t *testing.T) {
	t.Parallel()
	c := newClock()
	opts := testOptions(t.TempDir(), c)
	q := mustOpen(t, opts)
	defer q.Close()
	id := mustEnqueue(t, q, env("a@x.example", "b@y.example"), "body")
	// A copy of the files of an open queue is what a crash leaves behind:
	// synced, but with an unreplayed write-ahead log.
	crashed := filepath.Join(t.TempDir(), "crashed")
	copyDir(t, opts.Dir, crashed)
	copts := opts
	copts.Dir = crashed
	if _, err := OpenReadOnly(copts); !errors.Is(err, ErrNeedsRecovery) {
		t.Fatalf("read-only open after a crash = %v, want ErrNeedsRecovery", err)
	}
	rw := mustOpen(t, copts)
	if _, err := rw.Get(id); err != nil {
		t.Fatalf("message lost in the crash copy: %v", err)
	}
	rw.Close()
	ro, err := OpenReadOnly(copts)
	if err != nil {
		t.Fatalf("read-only open after recovery: %v", err)
	}
	defer ro.Close()
	wantStats(t, ro, 1, 0, 0, 0)
}

func TestOpenReadOnly_MissingDir(t *testing.T) {
	t.Parallel()
	opts := testOptions(filepath.Join(t.TempDir(), "nothing"), newClock())
	if _, err := OpenReadOnly(opts); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("read-only open of a missing dir = %v", err)
	}
	if _, err := os.Stat(opts.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Error("read-only open created the directory")
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o700); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == "LOCK" {
			continue
		}
		src, err := os.Open(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		dst, err := os.Create(filepath.Join(to, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(dst, src); err != nil {
			t.Fatal(err)
		}
		src.Close()
		dst.Close()
	}
}

func TestOpen_WithoutBlockCache(t *testing.T) {
	t.Parallel()
	c := newClock()
	opts := testOptions(t.TempDir(), c)
	opts.BlockCacheBytes = 0 // queue.badger.block_cache_bytes: 0 is valid config
	q := mustOpen(t, opts)
	id := mustEnqueue(t, q, env("a@x.example", "b@y.example"), "body")
	q.Close()
	ro, err := OpenReadOnly(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, err := ro.Get(id); err != nil {
		t.Error(err)
	}
}
