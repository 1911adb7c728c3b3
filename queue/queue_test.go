package queue

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/mxout/mxout/internal/testclock"
)

// newClock is the queue tests' clock, which moves only when told.
func newClock() *testclock.Clock {
	return testclock.New(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
}

func testOptions(dir string, c *testclock.Clock) Options {
	return Options{
		Dir:               dir,
		MinFreeBytes:      1,
		LeaseDuration:     30 * time.Second,
		MemtableBytes:     4 << 20,
		NumMemtables:      2,
		BlockCacheBytes:   1 << 20,
		IndexCacheBytes:   1 << 20,
		ValueLogFileBytes: 8 << 20,
		ValueThreshold:    1024,
		Now:               c.Now,
	}
}

func openTest(t *testing.T, c *testclock.Clock) (*Queue, Options) {
	t.Helper()
	opts := testOptions(t.TempDir(), c)
	q := mustOpen(t, opts)
	t.Cleanup(func() { q.Close() })
	return q, opts
}

// mustOpen opens a queue the test closes itself.
func mustOpen(t testing.TB, opts Options) *Queue {
	t.Helper()
	q, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func env(from string, to ...string) Envelope {
	e := Envelope{From: from}
	for _, a := range to {
		e.To = append(e.To, RecipientParams{Addr: a})
	}
	return e
}

func mustEnqueue(t *testing.T, q *Queue, e Envelope, body string) ID {
	t.Helper()
	id, err := q.Enqueue(context.Background(), "", e, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func wantStats(t *testing.T, q *Queue, ready, deferred, inflight, held int64) {
	t.Helper()
	s := q.Stats()
	if s.Ready != ready || s.Deferred != deferred || s.Inflight != inflight || s.Held != held {
		t.Errorf("stats = ready %d deferred %d inflight %d held %d; want %d %d %d %d",
			s.Ready, s.Deferred, s.Inflight, s.Held, ready, deferred, inflight, held)
	}
}

func TestEnqueue_LeaseComplete_Delivered(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, _ := openTest(t, c)
	body := "Subject: hi\r\n\r\nhello\r\n"
	id := mustEnqueue(t, q, env("a@x.example", "b@y.example"), body)
	wantStats(t, q, 1, 0, 0, 0)
	if s := q.Stats(); s.Bytes != int64(len(body)) || !s.Oldest.Equal(c.Now()) {
		t.Errorf("bytes %d oldest %v", s.Bytes, s.Oldest)
	}
	jobs, err := q.Lease(c.Now(), 10)
	if err != nil || len(jobs) != 1 || jobs[0].ID != id {
		t.Fatalf("lease = %v, %v", jobs, err)
	}
	wantStats(t, q, 0, 0, 1, 0)
	got, err := q.Body(id)
	if err != nil || string(got) != body {
		t.Fatalf("body = %q, %v", got, err)
	}
	if again, _ := q.Lease(c.Now().Add(time.Hour), 10); len(again) != 0 {
		t.Fatalf("a leased message was leased twice")
	}
	m, err := q.Complete(id, Update{Results: []Result{{Index: 0, State: Delivered, Attempted: c.Now(), Response: "250 ok"}}})
	if err != nil || !m.final() {
		t.Fatalf("complete = %+v, %v", m, err)
	}
	wantStats(t, q, 0, 0, 0, 0)
	if _, err := q.Body(id); !errors.Is(err, ErrNotFound) {
		t.Errorf("body kept after final state: %v", err)
	}
	if _, err := q.Get(id); !errors.Is(err, ErrNotFound) {
		t.Errorf("record kept after final state: %v", err)
	}
	if s := q.Stats(); s.Bytes != 0 || !s.Oldest.IsZero() {
		t.Errorf("after delivery bytes %d oldest %v", s.Bytes, s.Oldest)
	}
}

func TestDefer_PerRecipient(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, _ := openTest(t, c)
	id := mustEnqueue(t, q, env("a@x.example", "ok@y.example", "later@z.example", "bad@w.example"), "x")
	jobs, _ := q.Lease(c.Now(), 1)
	if due := jobs[0].DueRecipients(c.Now()); len(due) != 3 {
		t.Fatalf("due recipients = %v", due)
	}
	retryAt := c.Now().Add(5 * time.Minute)
	m, err := q.Complete(id, Update{Results: []Result{
		{Index: 0, State: Delivered, Attempted: c.Now()},
		{Index: 1, State: Pending, NextAttempt: retryAt, Attempted: c.Now(), Response: "451 busy", Status: "4.2.1", RemoteMTA: "mx.z.example"},
		{Index: 2, State: Failed, Attempted: c.Now(), Response: "550 no such user", Status: "5.1.1"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !m.Due.Equal(retryAt) || m.Recipients[1].Attempts != 1 || m.Recipients[1].LastResponse != "451 busy" {
		t.Errorf("after defer: due %v recipient %+v", m.Due, m.Recipients[1])
	}
	wantStats(t, q, 0, 1, 0, 0)
	if jobs, _ := q.Lease(c.Now().Add(4*time.Minute), 10); len(jobs) != 0 {
		t.Fatalf("leased before the retry time")
	}
	c.Advance(5 * time.Minute)
	jobs, _ = q.Lease(c.Now(), 10)
	if len(jobs) != 1 {
		t.Fatalf("not due after the retry time")
	}
	if due := jobs[0].DueRecipients(c.Now()); len(due) != 1 || due[0] != 1 {
		t.Errorf("due recipients after retry = %v, want only [1]", due)
	}
	if jobs[0].Recipients[0].State != Delivered || jobs[0].Recipients[2].State != Failed {
		t.Errorf("final states lost: %+v", jobs[0].Recipients)
	}
	if _, err := q.Complete(id, Update{Results: []Result{{Index: 1, State: Delivered, Attempted: c.Now()}}}); err != nil {
		t.Fatal(err)
	}
	wantStats(t, q, 0, 0, 0, 0)
}

func TestComplete_PostponedKeepsAttempts(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, _ := openTest(t, c)
	id := mustEnqueue(t, q, env("a@x.example", "b@y.example"), "x")
	jobs, _ := q.Lease(c.Now(), 1)
	q.Complete(jobs[0].ID, Update{Results: []Result{{Index: 0, State: Pending, NextAttempt: c.Now(), Attempted: c.Now(), Response: "451 busy", Status: "4.2.1"}}})
	jobs, _ = q.Lease(c.Now(), 1)
	later := c.Now().Add(time.Minute)
	m, err := q.Complete(id, Update{Results: []Result{{Index: 0, State: Pending, Postponed: true, NextAttempt: later}}})
	if err != nil || len(jobs) != 1 {
		t.Fatal(err)
	}
	r := m.Recipients[0]
	if r.Attempts != 1 || r.LastResponse != "451 busy" || r.Status != "4.2.1" || !r.NextAttempt.Equal(later) || !m.Due.Equal(later) {
		t.Errorf("postponed recipient = %+v, due %v; want the attempt and response kept, due in a minute", r, m.Due)
	}
}

func TestLease_ExpiredAfterRestart(t *testing.T) {
	t.Parallel()
	c := newClock()
	opts := testOptions(t.TempDir(), c)
	q := mustOpen(t, opts)
	id := mustEnqueue(t, q, env("a@x.example", "b@y.example"), "body")
	if jobs, _ := q.Lease(c.Now(), 5); len(jobs) != 1 {
		t.Fatal("lease failed")
	}
	q.Close() // as if the process died mid-delivery: no Complete

	q = mustOpen(t, opts)
	defer q.Close()
	wantStats(t, q, 1, 0, 0, 0)
	due, ok := q.NextDue()
	if !ok || !due.Equal(c.Now().Add(opts.LeaseDuration)) {
		t.Errorf("next due after restart = %v %v, want lease end", due, ok)
	}
	if jobs, _ := q.Lease(c.Now(), 5); len(jobs) != 0 {
		t.Errorf("leased again at once after a crash: retry storm")
	}
	c.Advance(opts.LeaseDuration)
	jobs, _ := q.Lease(c.Now(), 5)
	if len(jobs) != 1 || jobs[0].ID != id {
		t.Fatalf("message not due again after the lease: %v", jobs)
	}
}

func TestReturnLease_DueAtOnce(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, _ := openTest(t, c)
	id := mustEnqueue(t, q, env("a@x.example", "b@y.example"), "body")
	q.Lease(c.Now(), 5)
	if err := q.ReturnLease(id); err != nil {
		t.Fatal(err)
	}
	wantStats(t, q, 1, 0, 0, 0)
	if jobs, _ := q.Lease(c.Now(), 5); len(jobs) != 1 {
		t.Errorf("returned lease not due at once")
	}
}

func TestReopen_KeepsMessagesAndCounts(t *testing.T) {
	t.Parallel()
	c := newClock()
	opts := testOptions(t.TempDir(), c)
	q := mustOpen(t, opts)
	var ids []ID
	for i := 0; i < 5; i++ {
		ids = append(ids, mustEnqueue(t, q, env("a@x.example", fmt.Sprintf("r%d@y.example", i)), fmt.Sprintf("body %d", i)))
		c.Advance(time.Millisecond)
	}
	jobs, _ := q.Lease(c.Now(), 1)
	q.Complete(jobs[0].ID, Update{Results: []Result{{Index: 0, State: Pending, NextAttempt: c.Now().Add(time.Hour), Attempted: c.Now()}}})
	if err := q.Hold(ids[4]); err != nil {
		t.Fatal(err)
	}
	q.Close()
	q = mustOpen(t, opts)
	defer q.Close()
	wantStats(t, q, 3, 1, 0, 1)
	for i, id := range ids {
		b, err := q.Body(id)
		if err != nil || string(b) != fmt.Sprintf("body %d", i) {
			t.Errorf("body %d after reopen = %q, %v", i, b, err)
		}
	}
}

func TestHoldReleaseRetryDelete(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, _ := openTest(t, c)
	id := mustEnqueue(t, q, env("a@x.example", "b@y.example"), "body")
	if err := q.Hold(id); err != nil {
		t.Fatal(err)
	}
	wantStats(t, q, 0, 0, 0, 1)
	if jobs, _ := q.Lease(c.Now().Add(24*time.Hour), 5); len(jobs) != 0 {
		t.Fatal("a held message was leased")
	}
	if _, ok := q.NextDue(); ok {
		t.Error("a held message is reported as due")
	}
	if err := q.Release(id); err != nil {
		t.Fatal(err)
	}
	wantStats(t, q, 1, 0, 0, 0)

	jobs, _ := q.Lease(c.Now(), 5)
	if err := q.Hold(id); !errors.Is(err, ErrLeased) {
		t.Errorf("hold of a leased message = %v, want ErrLeased", err)
	}
	q.Complete(id, Update{Results: []Result{{Index: 0, State: Pending, NextAttempt: c.Now().Add(time.Hour), Attempted: c.Now()}}})
	_ = jobs
	wantStats(t, q, 0, 1, 0, 0)
	if err := q.Retry(id); err != nil {
		t.Fatal(err)
	}
	if jobs, _ := q.Lease(c.Now(), 5); len(jobs) != 1 {
		t.Fatal("retry did not make the message due now")
	}
	q.ReturnLease(id)
	if err := q.Delete(id); err != nil {
		t.Fatal(err)
	}
	wantStats(t, q, 0, 0, 0, 0)
	if err := q.Delete(id); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete = %v", err)
	}
	if s := q.Stats(); s.Bytes != 0 {
		t.Errorf("bytes after delete = %d", s.Bytes)
	}
}

func TestFlush_DeferredDueNow(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, _ := openTest(t, c)
	for i := 0; i < 3; i++ {
		mustEnqueue(t, q, env("a@x.example", "b@y.example"), "body")
	}
	jobs, _ := q.Lease(c.Now(), 10)
	for _, j := range jobs {
		q.Complete(j.ID, Update{Results: []Result{{Index: 0, State: Pending, NextAttempt: c.Now().Add(time.Hour), Attempted: c.Now()}}})
	}
	n, err := q.Flush()
	if err != nil || n != 3 {
		t.Fatalf("flush = %d, %v", n, err)
	}
	if jobs, _ := q.Lease(c.Now(), 10); len(jobs) != 3 {
		t.Errorf("after flush %d due, want 3", len(jobs))
	}
}

func TestList_FiltersAndPages(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, _ := openTest(t, c)
	var ids []ID
	for i := 0; i < 7; i++ {
		dom := "a.example"
		if i%2 == 1 {
			dom = "b.example"
		}
		ids = append(ids, mustEnqueue(t, q, env(fmt.Sprintf("s%d@x.example", i), "r@"+dom), "body"))
		c.Advance(time.Minute)
	}
	q.Hold(ids[0])
	var all []ID
	var after ID
	for {
		page, more, err := q.List(ListOptions{After: after, Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range page {
			all = append(all, m.ID)
		}
		if !more {
			break
		}
		after = page[len(page)-1].ID
	}
	if fmt.Sprint(all) != fmt.Sprint(ids) {
		t.Errorf("paged list = %v, want %v", all, ids)
	}
	tests := []struct {
		name string
		opts ListOptions
		want int
	}{
		{"domain", ListOptions{Domain: "B.example"}, 3},
		{"held", ListOptions{State: "held"}, 1},
		{"ready", ListOptions{State: "ready"}, 6},
		{"sender", ListOptions{Sender: "s2@x.example"}, 1},
		{"older than", ListOptions{OlderThan: 5 * time.Minute}, 2},
	}
	for _, tt := range tests {
		got, _, err := q.List(tt.opts)
		if err != nil || len(got) != tt.want {
			t.Errorf("%s: %d messages, %v; want %d", tt.name, len(got), err, tt.want)
		}
	}
}

func TestEnqueue_Concurrent(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, _ := openTest(t, c)
	const n = 200
	var wg sync.WaitGroup
	ids := make(chan ID, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			id, err := q.Enqueue(context.Background(), "", env("a@x.example", "b@y.example"), []byte(fmt.Sprintf("body %d", i)))
			if err != nil {
				t.Error(err)
			}
			ids <- id
		}(i)
	}
	wg.Wait()
	close(ids)
	seen := map[ID]bool{}
	for id := range ids {
		seen[id] = true
	}
	if len(seen) != n {
		t.Fatalf("%d distinct ids for %d messages", len(seen), n)
	}
	wantStats(t, q, n, 0, 0, 0)
	leased := 0
	for {
		jobs, err := q.Lease(c.Now(), 37)
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) == 0 {
			break
		}
		leased += len(jobs)
	}
	if leased != n {
		t.Errorf("leased %d of %d", leased, n)
	}
}

func TestEnqueue_DiskFull452(t *testing.T) {
	t.Parallel()
	c := newClock()
	opts := testOptions(t.TempDir(), c)
	var free int64 = 1 << 30
	var mu sync.Mutex
	opts.MinFreeBytes = 100 << 20
	opts.FreeSpace = func(string) (int64, error) { mu.Lock(); defer mu.Unlock(); return free, nil }
	q := mustOpen(t, opts)
	defer q.Close()
	mustEnqueue(t, q, env("a@x.example", "b@y.example"), "fits")
	mu.Lock()
	free = 100<<20 + 10
	mu.Unlock()
	if _, err := q.Enqueue(context.Background(), "", env("a@x.example", "b@y.example"), []byte("this body is too big")); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("enqueue below the reserve = %v, want ErrNoSpace", err)
	}
	mu.Lock()
	free = 100<<20 - 1
	mu.Unlock()
	if err := q.Writable(); !errors.Is(err, ErrNoSpace) {
		t.Errorf("Writable below the reserve = %v", err)
	}
	wantStats(t, q, 1, 0, 0, 0)
	mu.Lock()
	free = 1 << 30
	mu.Unlock()
	if err := q.Writable(); err != nil {
		t.Errorf("Writable after space returned = %v", err)
	}
	mustEnqueue(t, q, env("a@x.example", "b@y.example"), "fits again")
}

func TestID_SortsByTime(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var ids []string
	for i := 0; i < 100; i++ {
		ids = append(ids, string(NewID(base.Add(time.Duration(i)*time.Millisecond))))
	}
	if !sort.StringsAreSorted(ids) {
		t.Error("IDs do not sort by time")
	}
	id := ID(ids[5])
	if !id.Time().Equal(base.Add(5 * time.Millisecond)) {
		t.Errorf("id time = %v", id.Time())
	}
	if _, err := ParseID(ids[5]); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"", "short", "0123456789ABCDEFGHIJ", "0123456789abcdefghi/"} {
		if _, err := ParseID(bad); err == nil {
			t.Errorf("ParseID(%q) accepted", bad)
		}
	}
}

func FuzzDecodeMessage(f *testing.F) {
	m := &Message{ID: NewID(time.Unix(1, 0)), Envelope: Envelope{From: "a@b"}, Recipients: []Recipient{{RecipientParams: RecipientParams{Addr: "c@d"}}}}
	good, _ := encodeMessage(m)
	f.Add(good)
	f.Add([]byte(`{"id":"x"}`))
	f.Add([]byte(`{"id":"00000000000000000000","recipients":[{"addr":"a","state":"bogus"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMessage(b)
		if err != nil {
			return
		}
		if len(m.Recipients) == 0 {
			t.Error("decoded a message without recipients")
		}
		if _, err := encodeMessage(m); err != nil {
			t.Errorf("re-encode: %v", err)
		}
	})
}
