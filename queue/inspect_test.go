package queue

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxout/mxout/internal/testwait"
	"golang.org/x/sys/unix"
)

func TestListPage_MaxScanResumes(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, _ := openTest(t, c)
	var want []ID
	for i := 0; i < 30; i++ {
		dom := "common.example"
		if i%10 == 9 {
			dom = "rare.example"
		}
		id := mustEnqueue(t, q, env("a@x.example", "r@"+dom), "body")
		if dom == "rare.example" {
			want = append(want, id)
		}
		c.Advance(time.Second)
	}
	var got []ID
	var after ID
	pages := 0
	for {
		p, err := q.ListPage(ListOptions{After: after, Limit: 2, Domain: "rare.example", MaxScan: 4})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(p.Messages) > 2 {
			t.Fatalf("page of %d over the limit", len(p.Messages))
		}
		for _, m := range p.Messages {
			got = append(got, m.ID)
		}
		if p.Next == "" {
			break
		}
		if p.Next <= after {
			t.Fatalf("cursor went back from %s to %s", after, p.Next)
		}
		after = p.Next
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("paged %v, want %v", got, want)
	}
	if pages < 30/4 {
		t.Errorf("%d pages: MaxScan did not bound the scan", pages)
	}
}

func TestHeaders_StopsAtBlankLineAndCaps(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, _ := openTest(t, c)
	tests := []struct {
		name, body, want string
	}{
		{"headers and body", "Subject: a\r\nFrom: b@x.example\r\n\r\nbody\r\n\r\nmore", "Subject: a\r\nFrom: b@x.example\r\n"},
		{"headers only", "Subject: a\r\n", "Subject: a\r\n"},
		// Issue 20: these two returned the body ("\r\nbody", "\r\nbody\r\n").
		{"empty header section", "\r\nbody", ""},
		{"empty header section, a blank line in the body", "\r\nbody\r\n\r\nmore", ""},
	}
	for _, tt := range tests {
		id := mustEnqueue(t, q, env("a@x.example", "b@y.example"), tt.body)
		if h, err := q.Headers(id); err != nil || string(h) != tt.want {
			t.Errorf("%s: headers = %q, %v; want %q", tt.name, h, err, tt.want)
		}
	}
	huge := strings.Repeat("X-Long: "+strings.Repeat("x", 990)+"\r\n", 100)
	id := mustEnqueue(t, q, env("a@x.example", "b@y.example"), huge+"\r\nbody")
	if h, err := q.Headers(id); err != nil || len(h) != maxHeaderBytes || !bytes.HasPrefix([]byte(huge), h) {
		t.Errorf("huge header section: %d bytes, %v; want the first %d", len(h), err, maxHeaderBytes)
	}
}

func TestVerify_FindsHalfWrittenMessages(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, _ := openTest(t, c)
	ids := make([]ID, 4)
	for i := range ids {
		ids[i] = mustEnqueue(t, q, env("a@x.example", "b@y.example"), "body")
	}
	q.Hold(ids[1])
	jobs, _ := q.Lease(c.Now(), 1)
	q.Complete(jobs[0].ID, Update{Results: []Result{{Index: 0, State: Pending, NextAttempt: c.Now().Add(time.Hour), Attempted: c.Now()}}})
	if got, err := q.Verify(); err != nil || !got.OK() || got.Messages != 4 || got.Bodies != 4 || got.Due != 3 || got.Held != 1 {
		t.Fatalf("verify of a sound queue = %+v, %v", got, err)
	}
	// Break it behind the queue's back, as a non-atomic store could.
	txn := q.db.NewTransaction(true)
	txn.Delete(bodyKey(ids[2]))
	txn.Set(bodyKey(NewID(c.Now())), []byte("orphan body"))
	txn.Delete(heldKey(ids[1]))
	if err := txn.Commit(); err != nil {
		t.Fatal(err)
	}
	got, err := q.Verify()
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(got.Problems, "\n")
	for _, want := range []string{string(ids[2]) + ": record without a body", string(ids[1]) + ": held but not", "0 held-index entries for 1 held"} {
		if !strings.Contains(text, want) {
			t.Errorf("problems %q do not mention %q", text, want)
		}
	}
}

func TestFlush_BatchesSkipLeasedAndHeld(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, _ := openTest(t, c)
	const n = 2*flushBatch + 10
	for i := 0; i < n; i++ {
		mustEnqueue(t, q, env("a@x.example", "b@y.example"), "body")
	}
	for {
		jobs, _ := q.Lease(c.Now(), 100)
		if len(jobs) == 0 {
			break
		}
		for _, j := range jobs {
			q.Complete(j.ID, Update{Results: []Result{{Index: 0, State: Pending, NextAttempt: c.Now().Add(time.Hour), Attempted: c.Now()}}})
		}
	}
	page, _, _ := q.List(ListOptions{Limit: 2})
	q.Hold(page[0].ID)
	c.Advance(2 * time.Hour)
	busy, _ := q.Lease(c.Now(), 1)
	c.Advance(-2 * time.Hour)
	flushed, err := q.Flush()
	if err != nil || flushed != n-2 {
		t.Fatalf("flush = %d, %v; want %d (one held, one leased)", flushed, err, n-2)
	}
	due := 0
	for {
		jobs, _ := q.Lease(c.Now(), 100)
		if len(jobs) == 0 {
			break
		}
		due += len(jobs)
	}
	if due != n-2 {
		t.Errorf("%d due after flush, want %d", due, n-2)
	}
	if _, err := q.Complete(busy[0].ID, Update{}); err != nil {
		t.Errorf("the leased message was disturbed by flush: %v", err)
	}
}

func TestGC_KickedByLargeDeletes(t *testing.T) {
	t.Parallel()
	c := newClock()
	opts := testOptions(t.TempDir(), c)
	opts.GCInterval = time.Hour // only a kick can run it within the test
	opts.ValueLogFileBytes = 1 << 20
	q := mustOpen(t, opts)
	defer q.Close()
	body := bytes.Repeat([]byte("x"), 64<<10)
	var ids []ID
	for i := 0; i < 20; i++ {
		id, err := q.Enqueue(context.Background(), "", env("a@x.example", "b@y.example"), body)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if q.gcRuns.Load() != 0 {
		t.Fatal("GC ran before any delete")
	}
	for _, id := range ids {
		if err := q.Delete(id); err != nil {
			t.Fatal(err)
		}
	}
	testwait.For(t, 10*time.Second, "a GC run started by deleting 1.25 MiB of bodies", func() bool { return q.gcRuns.Load() > 0 })
}

func TestGC_ReclaimsDeletedBodies(t *testing.T) {
	t.Parallel()
	c := newClock()
	opts := testOptions(t.TempDir(), c)
	opts.ValueLogFileBytes = 1 << 20
	q := mustOpen(t, opts)
	body := bytes.Repeat([]byte("0123456789abcdef"), 4<<10) // 64 KiB: in the value log
	var ids []ID
	for i := 0; i < 64; i++ {
		id, err := q.Enqueue(context.Background(), "", env("a@x.example", "b@y.example"), body)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	q.Close()
	full := valueLogBytes(t, opts.Dir)
	q = mustOpen(t, opts)
	for _, id := range ids[:60] {
		if err := q.Delete(id); err != nil {
			t.Fatal(err)
		}
	}
	q.Close() // flushes the deletions out of the memtable
	q = mustOpen(t, opts)
	defer q.Close()
	if n := q.RunGC(); n == 0 {
		t.Errorf("GC rewrote nothing after 60 of 64 bodies were deleted")
	}
	left := valueLogBytes(t, opts.Dir)
	if left > full/3 {
		t.Errorf("value log %d bytes after GC, %d before: want most of it back", left, full)
	}
	for _, id := range ids[60:] {
		if b, err := q.Body(id); err != nil || !bytes.Equal(b, body) {
			t.Fatalf("a live body was lost by GC: %v", err)
		}
	}
}

// valueLogBytes sums the allocated size of the value-log files in dir.
func valueLogBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".vlog") {
			var st unix.Stat_t
			if err := unix.Stat(filepath.Join(dir, e.Name()), &st); err != nil {
				t.Fatal(err)
			}
			n += st.Blocks * 512
		}
	}
	return n
}
