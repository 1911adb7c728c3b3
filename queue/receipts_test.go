package queue

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// A receipt is stored with its message, survives a restart, is not found
// once expired, and is pruned then; a receipt that cannot be stored
// stores no message either.
func TestReceipts(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, opts := openTest(t, c)
	ctx := context.Background()
	id, err := q.EnqueueWithReceipt(ctx, "", env("a@x.example", "b@y.example"), []byte("x\r\n"),
		Receipt{Key: "api:k\x00order-1", Answer: []byte(`{"id":"1"}`), Expires: c.Now().Add(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Get(id); err != nil {
		t.Fatal(err)
	}
	if _, err := q.EnqueueWithReceipt(ctx, "", env("a@x.example", "b@y.example"), []byte("x\r\n"),
		Receipt{Key: "api:k\x00short", Answer: []byte("x"), Expires: c.Now().Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	q = reopen(t, q, opts)
	if a, ok, err := q.Receipt("api:k\x00order-1"); err != nil || !ok || string(a) != `{"id":"1"}` {
		t.Errorf("after a restart: %q %v %v", a, ok, err)
	}
	if _, ok, err := q.Receipt("api:k\x00order-2"); ok || err != nil {
		t.Errorf("an unknown key: %v %v", ok, err)
	}
	c.Advance(2 * time.Minute)
	if _, ok, _ := q.Receipt("api:k\x00short"); ok {
		t.Error("an expired receipt was found")
	}
	if n, err := q.PruneReceipts(c.Now()); err != nil || n != 1 {
		t.Errorf("pruned %d, %v; want the expired one", n, err)
	}
	if _, ok, _ := q.Receipt("api:k\x00order-1"); !ok {
		t.Error("pruning took a receipt that had not expired")
	}
	before := q.Stats().Ready
	_, err = q.EnqueueWithReceipt(ctx, "", env("a@x.example", "b@y.example"), []byte("x\r\n"),
		Receipt{Key: "k", Answer: []byte(strings.Repeat("a", MaxReceiptAnswer+1))})
	if err == nil || q.Stats().Ready != before {
		t.Errorf("an oversized receipt: %v, %d messages (had %d)", err, q.Stats().Ready, before)
	}
}

// Without disk space, neither the message nor its receipt is stored.
func TestReceipts_DiskFull(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, free := spaceQueue(t, c)
	free.Store(1 << 20)
	_, err := q.EnqueueWithReceipt(context.Background(), "", env("a@x.example", "b@y.example"), []byte("x\r\n"),
		Receipt{Key: "k", Answer: []byte("a"), Expires: c.Now().Add(time.Hour)})
	if !errors.Is(err, ErrNoSpace) {
		t.Fatalf("err = %v, want ErrNoSpace", err)
	}
	if _, ok, _ := q.Receipt("k"); ok {
		t.Error("a receipt without its message")
	}
}

// A message withdrawn after a failed sync takes its receipt with it: a
// repeat of the request must queue the message again, not be told it was.
func TestReceipts_WithdrawnWithTheMessage(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, _ := openTest(t, c)
	failNextSync(q)
	body := bytes.Repeat([]byte("a body for the value log\r\n"), 200)
	_, err := q.EnqueueWithReceipt(context.Background(), "", env("a@x.example", "b@y.example"), body,
		Receipt{Key: "k", Answer: []byte("a"), Expires: c.Now().Add(time.Hour)})
	if !errors.Is(err, ErrSyncFailed) {
		t.Fatalf("err = %v, want ErrSyncFailed", err)
	}
	if _, ok, _ := q.Receipt("k"); ok {
		t.Error("the receipt of a withdrawn message is kept")
	}
}
