package queue

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func appendEvents(t *testing.T, q *Queue, at time.Time, tags ...string) []EventRecord {
	t.Helper()
	recs := make([]EventRecord, len(tags))
	for i, tag := range tags {
		recs[i] = EventRecord{Time: at, Tag: tag, Data: fmt.Appendf(nil, "event %d of %s", i, tag)}
	}
	if err := q.AppendEvents(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	return recs
}

// reopen closes q and opens its directory again until the test ends.
func reopen(t *testing.T, q *Queue, opts Options) *Queue {
	t.Helper()
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	q = mustOpen(t, opts)
	t.Cleanup(func() { q.Close() })
	return q
}

func seqs(recs []EventRecord) []uint64 {
	out := make([]uint64, len(recs))
	for i, r := range recs {
		out[i] = r.Seq
	}
	return out
}

func TestEvents_AppendReadInOrder(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, _ := openTest(t, c)
	first := appendEvents(t, q, c.Now(), "api:a", "", "smtp:b")
	second := appendEvents(t, q, c.Now(), "api:a")
	all, err := q.Events(0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 4 {
		t.Fatalf("read %d records, want 4", len(all))
	}
	want := append(seqs(first), seqs(second)...)
	for i, r := range all {
		if r.Seq != want[i] || (i > 0 && r.Seq <= all[i-1].Seq) {
			t.Errorf("record %d: seq %d, want %d, increasing", i, r.Seq, want[i])
		}
		if !r.Time.Equal(c.Now()) {
			t.Errorf("record %d: time %v", i, r.Time)
		}
	}
	if string(all[2].Data) != "event 2 of smtp:b" || all[2].Tag != "smtp:b" {
		t.Errorf("record 2 = %q tag %q", all[2].Data, all[2].Tag)
	}
	page, err := q.Events(all[1].Seq, 2)
	if err != nil || len(page) != 2 || page[0].Seq != all[2].Seq {
		t.Errorf("page after %d: %v %v", all[1].Seq, seqs(page), err)
	}
	last, err := q.LastEventSeq()
	if err != nil || last != all[3].Seq {
		t.Errorf("LastEventSeq = %d, %v; want %d", last, err, all[3].Seq)
	}
}

// A tag's index finds its records only, also when another tag starts
// with the same characters.
func TestEvents_Tagged(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, _ := openTest(t, c)
	appendEvents(t, q, c.Now(), "api:a", "api:ab", "api:a", "", "smtp:a")
	got, err := q.EventsTagged("api:a", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Tag != "api:a" || got[1].Tag != "api:a" {
		t.Fatalf("api:a records = %+v", got)
	}
	rest, err := q.EventsTagged("api:a", got[0].Seq, 10)
	if err != nil || len(rest) != 1 || rest[0].Seq != got[1].Seq {
		t.Errorf("after %d: %v %v", got[0].Seq, seqs(rest), err)
	}
	if none, _ := q.EventsTagged("api:", 0, 10); len(none) != 0 {
		t.Errorf("tag api: matched %v", seqs(none))
	}
	if err := q.AppendEvents(context.Background(), []EventRecord{{Tag: "a\x00b"}}); err == nil {
		t.Error("a tag with NUL was stored")
	}
}

func TestEvents_CursorSurvivesReopen(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, opts := openTest(t, c)
	if _, ok, err := q.EventCursor("webhook:x"); ok || err != nil {
		t.Fatalf("cursor before any set: ok %v err %v", ok, err)
	}
	recs := appendEvents(t, q, c.Now(), "", "")
	if err := q.SetEventCursor("webhook:x", recs[0].Seq); err != nil {
		t.Fatal(err)
	}
	q = reopen(t, q, opts)
	seq, ok, err := q.EventCursor("webhook:x")
	if err != nil || !ok || seq != recs[0].Seq {
		t.Errorf("cursor after reopen = %d %v %v, want %d", seq, ok, err, recs[0].Seq)
	}
	more := appendEvents(t, q, c.Now(), "")
	if more[0].Seq <= recs[1].Seq {
		t.Errorf("numbering restarted: %d after %d", more[0].Seq, recs[1].Seq)
	}
}

// Pruning removes old records and their index entries; numbering goes on
// above every pruned record even after a restart with an empty log, so a
// consumer's stored position never points past new records.
func TestEvents_PruneKeepsNumbering(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, opts := openTest(t, c)
	old := appendEvents(t, q, c.Now(), "api:a", "api:a")
	c.Advance(time.Hour)
	kept := appendEvents(t, q, c.Now(), "api:a")
	n, err := q.PruneEvents(c.Now().Add(-time.Minute))
	if err != nil || n != 2 {
		t.Fatalf("pruned %d, %v; want 2", n, err)
	}
	all, _ := q.Events(0, 10)
	tagged, _ := q.EventsTagged("api:a", 0, 10)
	if len(all) != 1 || all[0].Seq != kept[0].Seq || len(tagged) != 1 {
		t.Errorf("after prune: all %v tagged %v, want [%d]", seqs(all), seqs(tagged), kept[0].Seq)
	}
	if _, err := q.PruneEvents(c.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if all, _ := q.Events(0, 10); len(all) != 0 {
		t.Fatalf("left %v", seqs(all))
	}
	q = reopen(t, q, opts)
	next := appendEvents(t, q, c.Now(), "")
	if next[0].Seq <= kept[0].Seq || next[0].Seq <= old[1].Seq {
		t.Errorf("after pruning everything and a restart, numbering restarted at %d (had reached %d)", next[0].Seq, kept[0].Seq)
	}
}

func TestEvents_PruneManyBatches(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, _ := openTest(t, c)
	tags := make([]string, pruneBatch+10)
	appendEvents(t, q, c.Now(), tags...)
	n, err := q.PruneEvents(c.Now().Add(time.Second))
	if err != nil || n != len(tags) {
		t.Errorf("pruned %d, %v; want %d", n, err, len(tags))
	}
}

// Appends from many goroutines: every reader that sees a record sees all
// the committed records below it, so a consumer that moves its position
// to the last record it read never skips one.
func TestEvents_ConcurrentAppendsCommitInOrder(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, _ := openTest(t, c)
	const writers, each = 8, 25
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				rec := []EventRecord{{Time: c.Now(), Data: fmt.Appendf(nil, "%d/%d", w, i)}}
				if err := q.AppendEvents(context.Background(), rec); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	// A consumer that follows the log as it grows.
	seen := map[string]bool{}
	var pos uint64
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for finished := false; ; {
		changed := q.EventsChanged()
		recs, err := q.Events(pos, 7)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Seq <= pos {
				t.Fatalf("record %d after position %d", r.Seq, pos)
			}
			pos = r.Seq
			seen[string(r.Data)] = true
		}
		if len(recs) > 0 {
			continue
		}
		if finished {
			break
		}
		select {
		case <-changed:
		case <-done:
			finished = true
		}
	}
	if len(seen) != writers*each {
		t.Errorf("consumer saw %d records, want %d", len(seen), writers*each)
	}
}

// Below the reserve no new event is written, but acknowledgements and
// pruning (which frees space) still are, down to the emergency margin.
func TestEvents_DiskReserve(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, free := spaceQueue(t, c)
	recs := appendEvents(t, q, c.Now(), "")
	free.Store(100<<20 - 1) // below the reserve, above the margin
	if err := q.AppendEvents(context.Background(), []EventRecord{{Time: c.Now()}}); !errors.Is(err, ErrNoSpace) {
		t.Errorf("append below the reserve: %v, want ErrNoSpace", err)
	}
	if err := q.SetEventCursor("w", recs[0].Seq); err != nil {
		t.Errorf("acknowledgement below the reserve: %v", err)
	}
	if n, err := q.PruneEvents(c.Now().Add(time.Second)); err != nil || n != 1 {
		t.Errorf("prune below the reserve: %d, %v", n, err)
	}
	free.Store(50<<20 - 1) // below the margin too
	if err := q.SetEventCursor("w", recs[0].Seq); !errors.Is(err, ErrNoSpace) {
		t.Errorf("acknowledgement below the margin: %v, want ErrNoSpace", err)
	}
}

// A round's events are written by Complete with its results, and woken
// readers find them; a Complete that fails writes neither.
func TestEvents_WrittenWithTheResults(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, _ := openTest(t, c)
	id := mustEnqueue(t, q, env("a@x.example", "b@y.example", "c@y.example"), "Subject: x\r\n\r\nx\r\n")
	if _, err := q.Lease(c.Now(), 1); err != nil {
		t.Fatal(err)
	}
	changed := q.EventsChanged()
	bad := Update{
		Results: []Result{{Index: 0, State: Delivered, Attempted: c.Now()}},
		Events:  []EventRecord{{Time: c.Now(), Tag: "api:\x00", Data: []byte("x")}},
	}
	if _, err := q.Complete(id, bad); err == nil {
		t.Fatal("Complete with a bad event tag succeeded")
	}
	if m, err := q.Get(id); err != nil || m.Recipients[0].State != Pending {
		t.Fatalf("the failed Complete recorded its result: %+v %v", m, err)
	}
	if recs, _ := q.Events(0, 10); len(recs) != 0 {
		t.Fatalf("the failed Complete wrote %d events", len(recs))
	}
	if _, err := q.Lease(c.Now().Add(time.Hour), 1); err != nil { // due again after the lease
		t.Fatal(err)
	}
	u := Update{
		Results: []Result{
			{Index: 0, State: Delivered, Attempted: c.Now()},
			{Index: 1, State: Pending, Attempted: c.Now(), NextAttempt: c.Now().Add(time.Hour)},
		},
		Events: []EventRecord{
			{Time: c.Now(), Tag: "api:app", Data: []byte("delivered b")},
			{Time: c.Now(), Tag: "api:app", Data: []byte("deferred c")},
		},
	}
	if _, err := q.Complete(id, u); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	default:
		t.Error("readers were not woken")
	}
	recs, err := q.EventsTagged("api:app", 0, 10)
	if err != nil || len(recs) != 2 || string(recs[1].Data) != "deferred c" || recs[0].Seq != u.Events[0].Seq {
		t.Errorf("events after Complete: %+v %v", recs, err)
	}
	if m, _ := q.Get(id); m.Recipients[0].State != Delivered {
		t.Errorf("result not recorded: %+v", m.Recipients[0])
	}
}
