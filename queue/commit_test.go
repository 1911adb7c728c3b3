package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/mxout/mxout/internal/testwait"
)

// TestCommit_GroupSplitsWhenFull enqueues, at once, more than one badger
// transaction can hold (1 MiB memtables take about 150 KiB a transaction;
// these bodies stay in the LSM tree), then reopens the queue: every
// message is there, whole.
func TestCommit_GroupSplitsWhenFull(t *testing.T) {
	t.Parallel()
	c := newClock()
	opts := testOptions(t.TempDir(), c)
	opts.MemtableBytes = 1 << 20
	opts.ValueThreshold = 64 << 10
	q := mustOpen(t, opts)
	const n = 64
	bodies := map[ID][]byte{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			body := bytes.Repeat([]byte(fmt.Sprintf("%02d", i)), 15<<10) // 30 KiB
			id, err := q.Enqueue(context.Background(), "", env("a@x.example", "b@y.example"), body)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			bodies[id] = body
			mu.Unlock()
		})
	}
	wg.Wait()
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if len(bodies) != n {
		t.Fatalf("%d of %d enqueued", len(bodies), n)
	}
	q = mustOpen(t, opts)
	defer q.Close()
	wantStats(t, q, n, 0, 0, 0)
	for id, want := range bodies {
		got, err := q.Body(id)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("body of %s: %d bytes, %v; want %d bytes", id, len(got), err, len(want))
		}
	}
}

// TestCommit_FailingGroupFailsAlone puts a group whose writes fail between
// two good ones: the good ones are committed, the bad one gets its error
// and leaves nothing behind.
func TestCommit_FailingGroupFailsAlone(t *testing.T) {
	t.Parallel()
	q, _ := openTest(t, newClock())
	set := func(key string) func(*badger.Txn) error {
		return func(txn *badger.Txn) error { return txn.Set([]byte(key), []byte("v")) }
	}
	bad := errors.New("bad group")
	groups := []*group{
		{writes: set("xgood1"), done: make(chan error, 1)},
		{writes: func(txn *badger.Txn) error {
			if err := txn.Set([]byte("xhalf"), []byte("v")); err != nil {
				return err
			}
			return bad
		}, done: make(chan error, 1)},
		{writes: set("xgood2"), done: make(chan error, 1)},
	}
	q.commitGroups(groups)
	for i, want := range []error{nil, bad, nil} {
		if err := <-groups[i].done; !errors.Is(err, want) {
			t.Errorf("group %d: %v, want %v", i, err, want)
		}
	}
	err := q.db.View(func(txn *badger.Txn) error {
		for key, want := range map[string]bool{"xgood1": true, "xgood2": true, "xhalf": false} {
			_, err := txn.Get([]byte(key))
			if found := err == nil; found != want {
				t.Errorf("key %s stored = %v, want %v (%v)", key, found, want, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCommit_AfterCloseIsErrClosed(t *testing.T) {
	t.Parallel()
	q, _ := openTest(t, newClock())
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if err := q.commit(func(*badger.Txn) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("commit after Close = %v, want ErrClosed", err)
	}
}

// gatherInBackground runs q.gather(batch, wait) and returns where its
// result arrives.
func gatherInBackground(q *Queue, batch []*group, wait <-chan time.Time) <-chan []*group {
	out := make(chan []*group, 1)
	go func() { out <- q.gather(batch, wait) }()
	return out
}

// gathered waits (bounded, only to stop a broken test) for gather's result.
func gathered(t *testing.T, out <-chan []*group, what string) []*group {
	t.Helper()
	select {
	case b := <-out:
		return b
	case <-time.After(30 * time.Second):
		t.Fatalf("gather did not return: %s", what)
		return nil
	}
}

// The queue's own bookkeeping (a lease, a delivery's results) waits for a
// new message to share its commit, so that the message's 250 does not
// wait for one more commit; the new message never waits, and takes along
// what else is waiting.
func TestGather_BookkeepingWaitsForANewMessage(t *testing.T) {
	t.Parallel()
	q := &Queue{commits: make(chan *group, maxGroup)}
	bg := func() *group { return &group{} }
	msg := &group{durable: true}
	never := make(chan time.Time)

	first, second, after := bg(), bg(), bg()
	out := gatherInBackground(q, []*group{first}, never)
	q.commits <- second
	testwait.For(t, 30*time.Second, "gather to take the second group", func() bool { return len(q.commits) == 0 })
	select {
	case b := <-out:
		t.Fatalf("gather returned %d groups of bookkeeping without waiting for a new message", len(b))
	default:
	}
	q.commits <- msg
	q.commits <- after
	b := gathered(t, out, "a new message came")
	if len(b) < 3 || b[0] != first || b[1] != second || b[2] != msg {
		t.Fatalf("gathered %d groups %v; want the bookkeeping, then the message with it", len(b), b)
	}
	for len(b) < 4 { // after may have come in with the message or be left
		b = append(b, <-q.commits)
	}
	if b[3] != after {
		t.Fatal("a group was lost")
	}

	// A new message alone is committed with what waits now, no later.
	q.commits <- second
	b = gathered(t, gatherInBackground(q, []*group{msg}, never), "the batch has a new message")
	if len(b) != 2 || b[1] != second {
		t.Fatalf("gathered %v, want the message and the group waiting", b)
	}

	// Without a new message, bookkeeping is committed when the wait ends.
	ended := make(chan time.Time)
	close(ended)
	if b := gathered(t, gatherInBackground(q, []*group{first}, ended), "the wait ended"); len(b) != 1 {
		t.Fatalf("gathered %v, want the bookkeeping alone", b)
	}
	// Nor without a wait (no client sending lately).
	if b := gathered(t, gatherInBackground(q, []*group{first}, nil), "no wait"); len(b) != 1 {
		t.Fatalf("gathered %v, want the bookkeeping alone", b)
	}
}
