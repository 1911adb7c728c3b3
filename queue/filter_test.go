package queue

import (
	"slices"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/mxout/mxout/internal/testclock"
)

// LeaseFiltered passes over the messages whose destination the filter
// refuses, keeps due order within each destination, and stops after
// MaxSkipped refusals.
func TestLeaseFiltered_SkipsRefusedDomains(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, _ := openTest(t, c)
	var slow, fast []ID
	for i := range 5 {
		slow = append(slow, mustEnqueue(t, q, env("a@x.example", "u@Slow.example"), "s"))
		c.Advance(time.Millisecond)
		if i < 2 {
			fast = append(fast, mustEnqueue(t, q, env("a@x.example", "u@fast.example"), "f"))
			c.Advance(time.Millisecond)
		}
	}
	var asked []string
	notSlow := LeaseFilter{Admit: func(d string) bool { asked = append(asked, d); return d != "slow.example" }}
	jobs, err := q.LeaseFiltered(c.Now(), 10, notSlow)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(jobs); !slices.Equal(got, fast) {
		t.Errorf("leased %v, want the fast.example messages %v", got, fast)
	}
	if !slices.Contains(asked, "slow.example") {
		t.Errorf("the filter was asked about %v; want the lowercased domain slow.example among them", asked)
	}
	wantStats(t, q, 5, 0, 2, 0)

	// The refused messages are still due, in order, for a filter that admits them.
	jobs, _ = q.LeaseFiltered(c.Now(), 2, LeaseFilter{Admit: func(string) bool { return true }})
	if got := ids(jobs); !slices.Equal(got, slow[:2]) {
		t.Errorf("leased %v, want the first two slow.example messages %v", got, slow[:2])
	}
	// MaxSkipped: three refusals end the scan before anything is leased.
	refused := 0
	jobs, _ = q.LeaseFiltered(c.Now(), 5, LeaseFilter{Admit: func(string) bool { refused++; return false }, MaxSkipped: 3})
	if len(jobs) != 0 || refused != 3 {
		t.Errorf("leased %d and asked %d times; want 0 leased after 3 refusals", len(jobs), refused)
	}
}

// When the scan stops at MaxSkipped, the tail scan still finds mail that
// just arrived behind the refused backlog; what lies between the two
// windows waits for a deeper scan.
func TestLeaseFiltered_TailFindsNewMail(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, _ := openTest(t, c)
	enqueueTo(t, q, c, 10, "slow.example")
	middle := enqueueTo(t, q, c, 1, "fast.example")
	enqueueTo(t, q, c, 10, "slow.example")
	newest := enqueueTo(t, q, c, 2, "fast.example")
	filter := LeaseFilter{Admit: func(d string) bool { return d != "slow.example" }, MaxSkipped: 5, Tail: 5}
	jobs, err := q.LeaseFiltered(c.Now(), 10, filter)
	if err != nil {
		t.Fatal(err)
	}
	got := ids(jobs)
	slices.Sort(got)
	if !slices.Equal(got, newest) {
		t.Errorf("leased %v, want the two newest fast.example messages %v", got, newest)
	}
	filter.MaxSkipped, filter.Tail = 0, 0
	if jobs, _ := q.LeaseFiltered(c.Now(), 10, filter); !slices.Equal(ids(jobs), middle) {
		t.Errorf("an unlimited scan leased %v, want the one in the middle %v", ids(jobs), middle)
	}
}

// Successive limited scans sweep a refused backlog in due order: mail in
// the middle, beyond the oldest and the newest scans' reach, is found
// within a bounded number of scans, older before newer.
func TestLeaseFiltered_SweepsTheMiddle(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, _ := openTest(t, c)
	var middle []ID
	for range 2 {
		enqueueTo(t, q, c, 4, "slow.example")
		middle = append(middle, enqueueTo(t, q, c, 1, "fast.example")...)
	}
	enqueueTo(t, q, c, 4, "slow.example")
	filter := LeaseFilter{Admit: func(d string) bool { return d != "slow.example" }, MaxSkipped: 2, Tail: 2}
	var got []ID
	for scans := 0; scans < 12 && len(got) < len(middle); scans++ {
		jobs, err := q.LeaseFiltered(c.Now(), 1, filter)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ids(jobs)...)
	}
	if !slices.Equal(got, middle) {
		t.Errorf("12 scans leased %v, want the middle messages in due order %v", got, middle)
	}
}

// A scan whose first pass fills up (mail at the head of the index) does
// not move the sweep back: the next scan goes on where the sweep was.
func TestLeaseFiltered_SweepKeepsItsPlace(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, _ := openTest(t, c)
	head := enqueueTo(t, q, c, 1, "fast.example")[0]
	enqueueTo(t, q, c, 6, "slow.example")
	enqueueTo(t, q, c, 1, "fast.example")
	enqueueTo(t, q, c, 4, "slow.example")
	filter := LeaseFilter{Admit: func(d string) bool { return d != "slow.example" }, MaxSkipped: 2, Tail: 2}
	lease := func(max int) {
		t.Helper()
		jobs, err := q.LeaseFiltered(c.Now(), max, filter)
		if err != nil || len(jobs) == 0 || jobs[0].ID != head {
			t.Fatalf("lease = %v, %v; want %s first", ids(jobs), err, head)
		}
		if err := q.ReturnLease(head); err != nil { // back to the head of the index
			t.Fatal(err)
		}
	}
	lease(2) // the head message, then two refusals, then the sweep: two more
	q.sweep.mu.Lock()
	swept := string(q.sweep.key)
	q.sweep.mu.Unlock()
	if swept == "" {
		t.Fatal("no sweep position after a scan that stopped short")
	}
	lease(1) // fills up on the head message
	q.sweep.mu.Lock()
	defer q.sweep.mu.Unlock()
	if string(q.sweep.key) != swept {
		t.Errorf("the sweep moved from %x to %x after a scan that filled up at the head", swept, q.sweep.key)
	}
}

// The due index names the domain of the recipient due first: once one
// domain is delivered, the message is scheduled by the one still pending.
func TestLeaseFiltered_DomainFollowsPendingRecipient(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, _ := openTest(t, c)
	id := mustEnqueue(t, q, env("a@x.example", "u@one.example", "u@two.example"), "body")
	jobs, _ := q.LeaseFiltered(c.Now(), 1, LeaseFilter{Admit: func(d string) bool { return d == "one.example" }})
	if len(jobs) != 1 {
		t.Fatalf("not leased for one.example (the first recipient's domain)")
	}
	_, err := q.Complete(id, Update{Results: []Result{
		{Index: 0, State: Delivered, Attempted: c.Now()},
		{Index: 1, State: Pending, Attempted: c.Now(), NextAttempt: c.Now().Add(time.Minute)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	later := c.Now().Add(time.Hour)
	if jobs, _ := q.LeaseFiltered(later, 1, LeaseFilter{Admit: func(d string) bool { return d == "one.example" }}); len(jobs) != 0 {
		t.Errorf("leased for one.example, which is delivered")
	}
	if jobs, _ := q.LeaseFiltered(later, 1, LeaseFilter{Admit: func(d string) bool { return d == "two.example" }}); len(jobs) != 1 {
		t.Errorf("not leased for two.example, the recipient still pending")
	}
}

// A queue written before the due index held domains (9-byte values) still
// counts and leases its messages; the filter sees "" for them.
func TestLeaseFiltered_OldDueEntries(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, opts := openTest(t, c)
	id := mustEnqueue(t, q, env("a@x.example", "u@y.example"), "body")
	err := q.db.Update(func(txn *badger.Txn) error {
		m, err := getMessage(txn, id)
		if err != nil {
			return err
		}
		return txn.Set(dueKey(m.Due, id), dueValue(m)[:9])
	})
	if err != nil {
		t.Fatal(err)
	}
	q.Close()
	q = mustOpen(t, opts)
	defer q.Close()
	wantStats(t, q, 1, 0, 0, 0)
	var asked []string
	jobs, _ := q.LeaseFiltered(c.Now(), 1, LeaseFilter{Admit: func(d string) bool { asked = append(asked, d); return true }})
	if len(jobs) != 1 || !slices.Equal(asked, []string{""}) {
		t.Errorf("leased %d, filter asked about %q; want 1 leased, asked about \"\"", len(jobs), asked)
	}
}

// enqueueTo queues n one-recipient messages to domain, a millisecond
// apart, so that they stand in the due index in that order.
func enqueueTo(t *testing.T, q *Queue, c *testclock.Clock, n int, domain string) []ID {
	t.Helper()
	var out []ID
	for range n {
		c.Advance(time.Millisecond)
		out = append(out, mustEnqueue(t, q, env("a@x.example", "u@"+domain), "b"))
	}
	return out
}

func ids(ms []*Message) []ID {
	var out []ID
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return out
}
