package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sync/atomic"
	"syscall"
	"testing"
)

// failNextSync makes badger's logger report a failed value-log sync, in
// badger's own words (v4.9.6 value.go, valueLog.write), during the next
// commit of the group commit: what badger does when the msync of a value
// log fails, and then returns success.
func failNextSync(q *Queue) {
	var once atomic.Bool
	q.beforeCommit = func() {
		if !once.Swap(true) {
			q.db.Opts().Logger.Errorf("Error while curlf sync: %v\n", syscall.EIO)
		}
	}
}

func TestEnqueue_ValueLogSyncFailureIsNot250(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, _ := openTest(t, c)
	failNextSync(q)
	body := bytes.Repeat([]byte("a body for the value log\r\n"), 200) // above the value threshold
	_, err := q.Enqueue(context.Background(), "", env("a@x.example", "b@y.example"), body)
	if !errors.Is(err, ErrSyncFailed) {
		t.Fatalf("enqueue during a failed value-log sync = %v, want ErrSyncFailed", err)
	}
	if err := q.Writable(); err == nil {
		t.Error("Writable reports ok after a failed sync")
	}
	// The refused message was taken back: the client's retry is its only copy.
	wantStats(t, q, 0, 0, 0, 0)
	if jobs, err := q.Lease(c.Now(), 10); err != nil || len(jobs) != 0 {
		t.Errorf("lease after the refused enqueue = %d jobs, %v; want none", len(jobs), err)
	}
	if c, err := q.Verify(); err != nil || !c.OK() || c.Messages != 0 {
		t.Errorf("verify = %+v, %v", c, err)
	}

	id := mustEnqueue(t, q, env("a@x.example", "b@y.example"), string(body))
	if err := q.Writable(); !errors.Is(err, ErrSyncFailed) {
		t.Errorf("Writable right after a failed sync = %v, want ErrSyncFailed", err)
	}
	c.Advance(syncFailureHold)
	if err := q.Writable(); err != nil {
		t.Errorf("not writable a minute after the failed sync: %v", err)
	}
	if got, err := q.Body(id); err != nil || !bytes.Equal(got, body) {
		t.Errorf("body after recovery: %v", err)
	}
}

// TestComplete_SyncFailureKeepsBookkeeping: a delivery's result that
// shared the failed commit is kept (it is applied; a crash can only repeat a
// delivery), but the queue reports not writable.
func TestComplete_SyncFailureKeepsBookkeeping(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, _ := openTest(t, c)
	id := mustEnqueue(t, q, env("a@x.example", "b@y.example"), "hello")
	jobs, err := q.Lease(c.Now(), 1)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("lease = %v, %v", jobs, err)
	}
	failNextSync(q)
	if _, err := q.Complete(id, Update{Results: []Result{{Index: 0, State: Delivered, Attempted: c.Now()}}}); err != nil {
		t.Fatalf("complete during a failed sync = %v", err)
	}
	wantStats(t, q, 0, 0, 0, 0)
	if err := q.Writable(); err == nil {
		t.Error("Writable reports ok after a failed sync")
	}
}

func TestSyncWatch_Lines(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		line string
		want bool
	}{
		{fmt.Sprintf("Error while curlf sync: %v", syscall.EIO), true},
		{"Unable to sync value log: \"/q/000001.vlog\": input/output error", true},
		{"writeRequests: while syncing the WAL: no space left on device", true},
		{"Got error: file exists for id: 3", false},
	} {
		var w syncWatch
		w.observe(tc.line)
		if got := w.since(0); got != tc.want {
			t.Errorf("%q counted as a sync failure: %v, want %v", tc.line, got, tc.want)
		}
	}
}

// TestSyncWatch_BadgerVersion pins the badger release whose swallowed sync
// errors syncwatch.go was written against: an upgrade must re-read
// badger's value.go (and any other place that logs an error instead of
// returning it) before this test is changed.
func TestSyncWatch_BadgerVersion(t *testing.T) {
	t.Parallel()
	mod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*github\.com/dgraph-io/badger/v4 (\S+)`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("badger/v4 is not required in go.mod")
	}
	if v := string(m[1]); v != "v4.9.6" {
		t.Errorf("go.mod requires badger %s, syncwatch.go was checked against v4.9.6: re-check which sync failures badger only logs", v)
	}
}
