package queue

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/mxout/mxout/internal/testclock"
	"github.com/mxout/mxout/internal/testlog"
)

// linesWith counts the lines of logs that contain s.
func linesWith(logs, s string) int {
	n := 0
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

// openLogged opens a test queue whose log goes to the returned buffer.
func openLogged(t *testing.T, c *testclock.Clock) (*Queue, *testlog.Buffer, Options) {
	t.Helper()
	logs := &testlog.Buffer{}
	opts := testOptions(t.TempDir(), c)
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	q := mustOpen(t, opts)
	t.Cleanup(func() { q.Close() })
	return q, logs, opts
}

// writeRaw writes a value straight into the queue's badger database, as
// a bug or a damaged disk would.
func writeRaw(t *testing.T, q *Queue, key, value []byte) {
	t.Helper()
	if err := q.db.Update(func(txn *badger.Txn) error { return txn.Set(key, value) }); err != nil {
		t.Fatal(err)
	}
}

func TestLease_QuarantinesAPoisonRecord(t *testing.T) {
	t.Parallel()
	for name, poison := range map[string]func(t *testing.T, q *Queue, id, other ID) []byte{
		"not JSON": func(*testing.T, *Queue, ID, ID) []byte { return []byte(`{"id": "trunc`) },
		"unknown recipient state": func(t *testing.T, q *Queue, id, _ ID) []byte {
			m, err := q.Get(id)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(m)
			return bytes.Replace(b, []byte(`"state":"pending"`), []byte(`"state":"exploded"`), 1)
		},
		"names another message": func(t *testing.T, q *Queue, _, other ID) []byte {
			m, err := q.Get(other)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(m)
			return b
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := newClock()
			q, logs, _ := openLogged(t, c)
			before := mustEnqueue(t, q, env("a@x.example", "b@y.example"), "before")
			c.Advance(time.Millisecond)
			bad := mustEnqueue(t, q, env("bad@x.example", "b@y.example"), "poison")
			c.Advance(time.Millisecond)
			after := mustEnqueue(t, q, env("a@x.example", "b@y.example"), "after")
			writeRaw(t, q, messageKey(bad), poison(t, q, bad, before))

			jobs, err := q.Lease(c.Now(), 10)
			if err != nil {
				t.Fatalf("lease with a poison record = %v", err)
			}
			if len(jobs) != 2 || jobs[0].ID != before || jobs[1].ID != after {
				t.Fatalf("leased %d messages, want the two good ones", len(jobs))
			}
			wantStats(t, q, 0, 0, 2, 0)
			if s := q.Stats(); s.Quarantined != 1 || s.QuarantinedTotal != 1 || s.Bytes != int64(len("before")+len("after")) {
				t.Errorf("stats = %+v, want 1 quarantined and the two good bodies", s)
			}
			if n := linesWith(logs.String(), string(bad)); n != 1 {
				t.Errorf("the poison record is in %d log lines, want 1:\n%s", n, logs.String())
			}

			// The operator sees it, and can only show or delete it.
			p, err := q.ListPage(ListOptions{State: "quarantined"})
			if err != nil || len(p.Messages) != 1 || p.Messages[0].ID != bad || p.Messages[0].Quarantine == nil {
				t.Fatalf("list quarantined = %+v, %v", p, err)
			}
			if st := q.StateOf(p.Messages[0]); st != "quarantined" {
				t.Errorf("state = %q", st)
			}
			if !strings.Contains(p.Messages[0].Quarantine.Reason, "unreadable message record") {
				t.Errorf("reason = %q", p.Messages[0].Quarantine.Reason)
			}
			if m, err := q.Get(bad); err != nil || m.Quarantine == nil || m.Size != int64(len("poison")) {
				t.Errorf("get of the quarantined message = %+v, %v", m, err)
			}
			if err := q.Hold(bad); !errors.Is(err, ErrQuarantined) {
				t.Errorf("hold of a quarantined message = %v, want ErrQuarantined", err)
			}
			if p, _ := q.ListPage(ListOptions{}); len(p.Messages) != 2 {
				t.Errorf("the queue lists %d messages, want the 2 leased ones", len(p.Messages))
			}
			if c, err := q.Verify(); err != nil || !c.OK() || c.Quarantined != 1 {
				t.Errorf("verify = %+v, %v", c, err)
			}

			// It never comes back to a lease, and mail keeps flowing.
			for _, m := range jobs {
				if _, err := q.Complete(m.ID, Update{Results: []Result{{Index: 0, State: Delivered, Attempted: c.Now()}}}); err != nil {
					t.Fatal(err)
				}
			}
			c.Advance(time.Hour)
			next := mustEnqueue(t, q, env("a@x.example", "b@y.example"), "next")
			if jobs, err := q.Lease(c.Now(), 10); err != nil || len(jobs) != 1 || jobs[0].ID != next {
				t.Fatalf("lease after the quarantine = %d jobs, %v", len(jobs), err)
			}

			if err := q.Delete(bad); err != nil {
				t.Fatalf("delete of the quarantined message = %v", err)
			}
			if s := q.Stats(); s.Quarantined != 0 {
				t.Errorf("quarantined after delete = %d", s.Quarantined)
			}
			if _, err := q.Body(bad); !errors.Is(err, ErrNotFound) {
				t.Errorf("body of the deleted quarantined message: %v", err)
			}
			if c, err := q.Verify(); err != nil || !c.OK() || c.Quarantined != 0 {
				t.Errorf("verify after delete = %+v, %v", c, err)
			}
		})
	}
}

// TestLease_RemovesADueEntryWithoutRecord: such an entry used to be
// claimed by every lease (which then found nothing: the scheduler spun at
// its 1 ms minimum) and counted in Stats for good.
func TestLease_RemovesADueEntryWithoutRecord(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, logs, opts := openLogged(t, c)
	ghost := NewID(c.Now())
	writeRaw(t, q, dueKey(c.Now(), ghost), dueValue(&Message{ID: ghost, Size: 42, Recipients: []Recipient{{RecipientParams: RecipientParams{Addr: "b@y.example"}}}}))
	q.Close()
	q = mustOpen(t, opts)
	defer q.Close()
	wantStats(t, q, 1, 0, 0, 0) // counted from the due index at start

	jobs, err := q.Lease(c.Now(), 10)
	if err != nil || len(jobs) != 0 {
		t.Fatalf("lease = %d jobs, %v", len(jobs), err)
	}
	wantStats(t, q, 0, 0, 0, 0)
	if s := q.Stats(); s.Bytes != 0 || s.Quarantined != 0 {
		t.Errorf("stats = %+v", s)
	}
	if due, ok := q.NextDue(); ok {
		t.Errorf("still due at %v", due)
	}
	if c, err := q.Verify(); err != nil || !c.OK() || c.Due != 0 {
		t.Errorf("verify = %+v, %v", c, err)
	}
	if !strings.Contains(logs.String(), "removed a due-index entry that had no message record") {
		t.Errorf("not logged:\n%s", logs.String())
	}
}

func TestQuarantine_SurvivesARestart(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, _, opts := openLogged(t, c)
	bad := mustEnqueue(t, q, env("a@x.example", "b@y.example"), "poison")
	writeRaw(t, q, messageKey(bad), []byte("garbage"))
	if _, err := q.Lease(c.Now(), 10); err != nil {
		t.Fatal(err)
	}
	q.Close()
	q = mustOpen(t, opts)
	defer q.Close()
	if s := q.Stats(); s.Quarantined != 1 || s.QuarantinedTotal != 0 {
		t.Errorf("after a restart: %+v, want 1 quarantined, 0 moved since the start", s)
	}
	wantStats(t, q, 0, 0, 0, 0)
}

// TestFlushAndDelete_UnreadableRecord: a record that is not due yet is not
// quarantined (no lease met it), but it stops neither a flush nor its own
// delete.
func TestFlushAndDelete_UnreadableRecord(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, _, _ := openLogged(t, c)
	var ids []ID
	for range 3 {
		ids = append(ids, mustEnqueue(t, q, env("a@x.example", "b@y.example"), "hello"))
	}
	jobs, err := q.Lease(c.Now(), 3)
	if err != nil || len(jobs) != 3 {
		t.Fatal(jobs, err)
	}
	for _, m := range jobs {
		if _, err := q.Complete(m.ID, Update{Results: []Result{{Index: 0, State: Pending, Attempted: c.Now(), NextAttempt: c.Now().Add(time.Hour)}}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Hold(ids[2]); err != nil {
		t.Fatal(err)
	}
	writeRaw(t, q, messageKey(ids[0]), []byte("garbage"))
	writeRaw(t, q, messageKey(ids[2]), []byte("garbage"))
	if n, err := q.Flush(); err != nil || n != 1 {
		t.Errorf("flush with an unreadable deferred record = %d, %v; want the other one", n, err)
	}
	if err := q.Delete(ids[2]); err != nil {
		t.Errorf("delete of an unreadable held record = %v", err)
	}
	wantStats(t, q, 0, 2, 0, 0) // ids[0] stays counted until a lease quarantines it
	if _, err := q.Body(ids[2]); !errors.Is(err, ErrNotFound) {
		t.Errorf("body kept: %v", err)
	}
}
