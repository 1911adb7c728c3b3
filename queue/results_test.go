package queue

import (
	"testing"
	"time"
)

// TestRecord_KeepsTheLeaseAndSurvivesACrash: Record writes part of a
// round's results and keeps the lease; after a crash (the queue closed
// without Complete) those results stay written, the message is due again
// at the lease's end, and only the other recipients are due.
func TestRecord_KeepsTheLeaseAndSurvivesACrash(t *testing.T) {
	t.Parallel()
	c := newClock()
	opts := testOptions(t.TempDir(), c)
	q, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	id := mustEnqueue(t, q, env("s@sender.example", "a@x.example", "b@y.example", "c@z.example", "d@z.example"), "body")
	if jobs, _ := q.Lease(c.Now(), 5); len(jobs) != 1 {
		t.Fatal("lease failed")
	}
	now := c.Now()
	m, err := q.Record(id, Update{Results: []Result{{Index: 0, State: Delivered, Attempted: now, Response: "250 ok", Status: "2.0.0"}}})
	if err != nil {
		t.Fatal(err)
	}
	if m.Recipients[0].State != Delivered || m.Recipients[0].Attempts != 1 || m.Recipients[1].State != Pending {
		t.Errorf("Record returned %+v", m.Recipients)
	}
	if !q.Leased(id) {
		t.Error("Record ended the lease")
	}
	if jobs, _ := q.Lease(c.Now(), 5); len(jobs) != 0 {
		t.Error("leased twice after Record")
	}
	wantStats(t, q, 0, 0, 1, 0)
	// The next destination is deferred: the message is now "deferred",
	// still in flight.
	if _, err := q.Record(id, Update{Results: []Result{{Index: 1, State: Pending, Attempted: now, NextAttempt: now.Add(time.Hour), Response: "451 later", Status: "4.0.0"}}}); err != nil {
		t.Fatal(err)
	}
	wantStats(t, q, 0, 0, 1, 0)
	q.Close() // the crash: the round's last destinations never recorded

	q, err = Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	wantStats(t, q, 0, 1, 0, 0)
	if due, ok := q.NextDue(); !ok || !due.Equal(now.Add(opts.LeaseDuration)) {
		t.Errorf("due after the crash at %v (%v); want the lease's end", due, ok)
	}
	c.Advance(opts.LeaseDuration)
	jobs, _ := q.Lease(c.Now(), 5)
	if len(jobs) != 1 {
		t.Fatalf("not due again after the lease: %v", jobs)
	}
	if due := jobs[0].DueRecipients(c.Now()); len(due) != 2 || due[0] != 2 || due[1] != 3 {
		t.Errorf("due recipients after the crash = %v; want only the two never recorded (2, 3)", due)
	}
	got := jobs[0].Recipients
	if got[0].State != Delivered || got[1].Attempts != 1 || got[1].LastResponse != "451 later" {
		t.Errorf("recorded results lost in the crash: %+v", got)
	}
}

// TestRecord_ThenComplete: the round's last results end it, and the
// message is deleted once every recipient is final; the counts agree at
// every step.
func TestRecord_ThenComplete(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, _ := openTest(t, c)
	id := mustEnqueue(t, q, env("s@sender.example", "a@x.example", "b@y.example", "c@z.example"), "body")
	q.Lease(c.Now(), 1)
	now := c.Now()
	if _, err := q.Record(id, Update{Results: []Result{{Index: 0, State: Pending, Attempted: now, NextAttempt: now.Add(time.Minute)}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Record(id, Update{Results: []Result{{Index: 1, State: Delivered, Attempted: now}}}); err != nil {
		t.Fatal(err)
	}
	wantStats(t, q, 0, 0, 1, 0)
	m, err := q.Complete(id, Update{Results: []Result{{Index: 2, State: Failed, Attempted: now, Status: "5.1.1"}}})
	if err != nil {
		t.Fatal(err)
	}
	if q.Leased(id) || !m.Due.Equal(now.Add(time.Minute)) {
		t.Errorf("after Complete: leased %v, due %v; want the lease ended, due at the deferred recipient's retry", q.Leased(id), m.Due)
	}
	wantStats(t, q, 0, 1, 0, 0)
	c.Advance(time.Minute)
	q.Lease(c.Now(), 1)
	if _, err := q.Record(id, Update{Results: []Result{{Index: 0, State: Delivered, Attempted: c.Now()}}}); err != nil {
		t.Fatal(err)
	}
	if m, err := q.Complete(id, Update{}); err != nil || !m.final() {
		t.Fatalf("Complete after every recipient was recorded final: %v, %+v", err, m)
	}
	wantStats(t, q, 0, 0, 0, 0)
	if _, err := q.Get(id); err == nil {
		t.Error("a message with every recipient final was kept")
	}
}

func TestRecord_NeedsTheLease(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, _ := openTest(t, c)
	id := mustEnqueue(t, q, env("a@x.example", "b@y.example"), "body")
	if _, err := q.Record(id, Update{Results: []Result{{Index: 0, State: Delivered}}}); err == nil {
		t.Error("Record of a message not leased succeeded")
	}
}

// A part's events are written by Record with its results; a Record that
// fails writes neither, and the lease and its record stay as they were.
func TestRecord_WritesItsEvents(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, _ := openTest(t, c)
	id := mustEnqueue(t, q, env("s@sender.example", "a@x.example", "b@y.example"), "Subject: x\r\n\r\nx\r\n")
	q.Lease(c.Now(), 1)
	bad := Update{
		Results: []Result{{Index: 0, State: Delivered, Attempted: c.Now()}},
		Events:  []EventRecord{{Time: c.Now(), Tag: "api:\x00", Data: []byte("x")}},
	}
	if _, err := q.Record(id, bad); err == nil {
		t.Fatal("Record with a bad event tag succeeded")
	}
	if m, err := q.Get(id); err != nil || m.Recipients[0].State != Pending || !q.Leased(id) {
		t.Fatalf("after a failed Record: %+v %v, leased %v", m, err, q.Leased(id))
	}
	u := Update{
		Results: []Result{{Index: 0, State: Delivered, Attempted: c.Now()}},
		Events:  []EventRecord{{Time: c.Now(), Tag: "api:app", Data: []byte("delivered a")}},
	}
	if _, err := q.Record(id, u); err != nil {
		t.Fatal(err)
	}
	recs, err := q.EventsTagged("api:app", 0, 10)
	if err != nil || len(recs) != 1 || string(recs[0].Data) != "delivered a" || recs[0].Seq != u.Events[0].Seq {
		t.Errorf("events after Record: %+v %v", recs, err)
	}
	m, err := q.Complete(id, Update{Results: []Result{{Index: 1, State: Delivered, Attempted: c.Now()}}})
	if err != nil || !m.final() || m.Recipients[0].Attempts != 1 {
		t.Errorf("Complete after a failed and a good Record: %+v %v; want the first result written once", m, err)
	}
}
