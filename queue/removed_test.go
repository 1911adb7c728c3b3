package queue

import (
	"strings"
	"testing"
	"time"
)

// A message that leaves the queue gets one last log line, "removed"
// (Postfix's qmgr), whether its recipients are all final or an operator
// deleted it; a round that leaves a recipient pending logs none.
func TestRemoved_IsTheLastLineOfAMessage(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, logs, _ := openLogged(t, c)
	done := mustEnqueue(t, q, env("a@x.example", "b@y.example", "c@y.example"), "Subject: a\r\n\r\na\r\n")
	deleted := mustEnqueue(t, q, env("a@x.example", "d@y.example"), "Subject: b\r\n\r\nb\r\n")
	removed := func(id ID) int { return strings.Count(logs.String(), "msg=removed queue_id="+string(id)+" ") }

	if jobs, err := q.Lease(c.Now(), 10); err != nil || len(jobs) != 2 {
		t.Fatalf("lease: %v, %v", jobs, err)
	}
	if _, err := q.Complete(done, Update{Results: []Result{{Index: 0, State: Delivered, Attempted: c.Now()}}}); err != nil {
		t.Fatal(err)
	}
	if n := removed(done); n != 0 {
		t.Fatalf("removed logged %d times while c@y.example is pending:\n%s", n, logs)
	}
	if err := q.ReturnLease(deleted); err != nil {
		t.Fatal(err)
	}
	if jobs, err := q.Lease(c.Now().Add(24*time.Hour), 10); err != nil || len(jobs) != 2 {
		t.Fatalf("lease again: %v, %v", jobs, err)
	}
	if _, err := q.Complete(done, Update{Results: []Result{{Index: 1, State: Failed, Attempted: c.Now(), Status: "5.1.1"}}}); err != nil {
		t.Fatal(err)
	}
	if err := q.ReturnLease(deleted); err != nil {
		t.Fatal(err)
	}
	if err := q.Delete(deleted); err != nil {
		t.Fatal(err)
	}
	for id, why := range map[ID]string{done: "final", deleted: "deleted"} {
		if n := strings.Count(logs.String(), "msg=removed queue_id="+string(id)+" reason="+why+"\n"); n != 1 {
			t.Errorf("%s: %d removed lines with reason=%s, want 1:\n%s", id, n, why, logs)
		}
	}
}
