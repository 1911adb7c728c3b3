package events

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxout/mxout/queue"
)

func decodeAll(t *testing.T, recs []queue.EventRecord) []*Event {
	t.Helper()
	var out []*Event
	for _, r := range recs {
		e, err := Decode(r.Data)
		if err != nil {
			t.Fatal(err)
		}
		if r.Tag != e.Owner.String() || !r.Time.Equal(e.Time) {
			t.Errorf("record tag %q time %v, event owner %q time %v", r.Tag, r.Time, e.Owner, e.Time)
		}
		out = append(out, e)
	}
	return out
}

func TestRecorder_Round(t *testing.T) {
	t.Parallel()
	arrival := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	now := arrival.Add(5 * time.Hour)
	rcpts := []queue.Recipient{
		{RecipientParams: queue.RecipientParams{Addr: "a@x.example"}},
		{RecipientParams: queue.RecipientParams{Addr: "b@x.example"}, Attempts: 3, LastAttempt: arrival.Add(4*time.Hour + 10*time.Minute)},
		{RecipientParams: queue.RecipientParams{Addr: "c@y.example"}, Attempts: 1, LastAttempt: arrival.Add(time.Hour)},
		{RecipientParams: queue.RecipientParams{Addr: "d@y.example"}, Attempts: 9},
		{RecipientParams: queue.RecipientParams{Addr: "e@z.example"}, Attempts: 4, LastAttempt: arrival.Add(4*time.Hour + 30*time.Minute)},
		{RecipientParams: queue.RecipientParams{Addr: "f@z.example"}},
	}
	m := &queue.Message{ID: "0123456789abcdefghij", Arrival: arrival, Recipients: rcpts,
		Envelope: queue.Envelope{From: "app@example.com", User: "billing", API: true, Metadata: map[string]string{"order": "42"}}}
	body := []byte("Subject: x\r\nMessage-ID:\r\n <m1@example.com>\r\n\r\nbody\r\n")
	res := func(i int, st queue.State, status, mx string) queue.RoundResult {
		return queue.RoundResult{Result: queue.Result{Index: i, State: st, Attempted: now, Status: status, Response: status + " reply"}, MX: mx}
	}
	expired := res(3, queue.Failed, "5.4.7", "")
	expired.Expired = true
	postponed := res(5, queue.Pending, "4.7.0", "")
	postponed.Postponed = true
	round := queue.Round{Message: m, Body: body, Time: now, Results: []queue.RoundResult{
		res(0, queue.Delivered, "2.0.0", "mx.x.example[192.0.2.1]"),
		res(1, queue.Pending, "4.2.0", "mx.x.example[192.0.2.1]"), // past 4 h before: no delayed event again
		res(2, queue.Pending, "4.4.1", ""),                        // crosses 4 h in this round
		expired,
		res(4, queue.Failed, "5.1.1", "mx.z.example[192.0.2.9]"),
		postponed,
	}}
	rec := &Recorder{DelayAfter: 4 * time.Hour}
	evs := decodeAll(t, rec.Round(round))
	var types []string
	for _, e := range evs {
		types = append(types, string(e.Type)+" "+e.Recipient)
	}
	want := []string{"delivered a@x.example", "deferred b@x.example", "delayed c@y.example", "deferred c@y.example", "expired d@y.example", "bounced e@z.example"}
	if !slices.Equal(types, want) {
		t.Fatalf("events %q, want %q", types, want)
	}
	d := evs[0]
	if d.DSN != "2.0.0" || d.Reply != "2.0.0 reply" || d.MX != "mx.x.example[192.0.2.1]" || d.Attempt != 1 ||
		d.MessageID != "<m1@example.com>" || d.Sender != "app@example.com" || d.QueueID != string(m.ID) ||
		d.Metadata["order"] != "42" || d.Owner != (Owner{KindAPI, "billing"}) || !d.Time.Equal(now) {
		t.Errorf("delivered event %+v", d)
	}
	if evs[4].Attempt != 10 || evs[1].Attempt != 4 {
		t.Errorf("attempts %d %d, want 10 and 4", evs[4].Attempt, evs[1].Attempt)
	}
	ids := map[string]bool{}
	for _, e := range evs {
		if ids[e.ID] || e.ID == "" {
			t.Errorf("event ID %q empty or repeated", e.ID)
		}
		ids[e.ID] = true
	}
	if got := decodeAll(t, (&Recorder{}).Round(round)); len(got) != 5 {
		t.Errorf("without DelayAfter: %d events, want no delayed one", len(got))
	}
}

func TestRecorder_Owners(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		env  queue.Envelope
		want string
	}{
		{queue.Envelope{User: "k", API: true}, "api:k"},
		{queue.Envelope{User: "alice"}, "smtp:alice"},
		{queue.Envelope{}, ""},
		{queue.Envelope{User: strings.Repeat("u", 600)}, ""}, // too long for the index: kept out of it
	} {
		m := &queue.Message{Envelope: tt.env, Recipients: []queue.Recipient{{}}}
		recs := (&Recorder{}).Round(queue.Round{Message: m, Results: []queue.RoundResult{{}}})
		if len(recs) != 1 || recs[0].Tag != tt.want {
			t.Errorf("user %.10q api %v: tag %q, want %q", tt.env.User, tt.env.API, recs[0].Tag, tt.want)
		}
	}
}

func TestRecorder_Written(t *testing.T) {
	t.Parallel()
	counts := map[Type]int{}
	rec := &Recorder{Count: func(ty Type) { counts[ty]++ }}
	m := &queue.Message{Recipients: []queue.Recipient{{}, {}}}
	recs := rec.Round(queue.Round{Message: m, Results: []queue.RoundResult{
		{Result: queue.Result{Index: 0, State: queue.Delivered}},
		{Result: queue.Result{Index: 1, State: queue.Failed}},
	}})
	rec.Written(recs)
	if counts[Delivered] != 1 || counts[Bounced] != 1 || len(counts) != 2 {
		t.Errorf("counts %v", counts)
	}
}
