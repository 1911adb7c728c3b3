package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/dgraph-io/badger/v4"
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
