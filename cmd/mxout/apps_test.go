package main

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/queue"
	"github.com/mxout/mxout/queue/queuetest"
)

// The prune loop of serve deletes the events past events.retention and
// the expired Idempotency-Key answers, and keeps the rest.
func TestPrune_RetentionAndReceipts(t *testing.T) {
	t.Parallel()
	opts := queuetest.Options(t.TempDir())
	opts.MaxMessageBytes = 1024
	q := queuetest.Open(t, opts)
	ctx := context.Background()
	now := time.Now()
	if err := q.AppendEvents(ctx, []queue.EventRecord{
		{Time: now.Add(-2 * time.Hour), Data: []byte("old")},
		{Time: now.Add(-time.Minute), Data: []byte("new")},
	}); err != nil {
		t.Fatal(err)
	}
	env := queue.Envelope{From: "a@example.com", To: []queue.RecipientParams{{Addr: "b@example.net"}}}
	for key, expires := range map[string]time.Time{"expired": now.Add(-time.Minute), "kept": now.Add(time.Hour)} {
		if _, err := q.EnqueueWithReceipt(ctx, "", env, []byte("x\r\n"), queue.Receipt{Key: key, Answer: []byte("{}"), Expires: expires}); err != nil {
			t.Fatal(err)
		}
	}
	c := &configs.Config{}
	c.Events.Retention = time.Hour
	r := &relay{q: q, cfg: c, log: slog.New(slog.DiscardHandler)}
	done, cancel := context.WithCancel(ctx)
	cancel() // one pass, then return
	r.prune(done)

	evs, err := q.Events(0, 10)
	if err != nil || len(evs) != 1 || string(evs[0].Data) != "new" {
		t.Errorf("events after the prune: %v %v; want only the one within retention", evs, err)
	}
	if n, err := q.PruneReceipts(now); err != nil || n != 0 {
		t.Errorf("%d receipts left to prune (%v): the loop did not prune the expired one", n, err)
	}
	if _, ok, err := q.Receipt("kept"); !ok || err != nil {
		t.Errorf("the receipt that has not expired: %v %v", ok, err)
	}
}
