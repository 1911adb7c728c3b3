package events

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"
)

func sample() *Event {
	return &Event{
		ID: "e1", Type: Delivered, Time: time.Date(2026, 11, 25, 13, 4, 5, 0, time.FixedZone("CET", 3600)),
		QueueID: "0123456789abcdefghij", MessageID: "<x@relay.example>", Sender: "app@example.com",
		Recipient: "b@example.net", DSN: "2.0.0", Reply: "250 2.0.0 Ok: queued as 42", MX: "mx.example.net[192.0.2.1]",
		Attempt: 1, Metadata: map[string]string{"order": "42"}, Owner: Owner{Kind: KindAPI, Name: "billing"},
	}
}

func TestEncodeDecode_RoundTrip(t *testing.T) {
	e := sample()
	b, err := Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Owner != e.Owner || !got.Time.Equal(e.Time) || got.Reply != e.Reply || !maps.Equal(got.Metadata, e.Metadata) {
		t.Errorf("round trip: got %+v, want %+v", got, e)
	}
}

// The wire form has exactly the documented fields, the time in UTC
// RFC 3339, metadata as {} when there is none, and no owner.
func TestWireForm(t *testing.T) {
	e := sample()
	e.Metadata = nil
	stored, err := Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Decode(stored)
	if err != nil {
		t.Fatal(err)
	}
	wire, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(wire, &m); err != nil {
		t.Fatal(err)
	}
	want := []string{"attempt", "dsn", "id", "message_id", "metadata", "mx", "queue_id", "recipient", "reply", "sender", "time", "type"}
	if got := slices.Sorted(maps.Keys(m)); !slices.Equal(got, want) {
		t.Errorf("wire fields %v, want %v", got, want)
	}
	if m["time"] != "2026-11-25T12:04:05Z" {
		t.Errorf("time = %v, want UTC RFC 3339", m["time"])
	}
	if md, ok := m["metadata"].(map[string]any); !ok || len(md) != 0 {
		t.Errorf("metadata = %#v, want {}", m["metadata"])
	}
}

func TestOwnerString(t *testing.T) {
	for _, o := range []Owner{{KindAPI, "billing"}, {KindSMTP, "a:b@example.com"}, {}} {
		if got := parseOwner(o.String()); got != o {
			t.Errorf("parseOwner(%q) = %+v, want %+v", o.String(), got, o)
		}
	}
}

func TestFilter(t *testing.T) {
	api := &Event{Type: Delivered, Owner: Owner{KindAPI, "billing"}}
	smtp := &Event{Type: Bounced, Owner: Owner{KindSMTP, "billing"}}
	anon := &Event{Type: Bounced}
	tests := []struct {
		f    Filter
		want [3]bool
	}{
		{Filter{}, [3]bool{true, true, true}},
		{Filter{Types: []Type{Bounced}}, [3]bool{false, true, true}},
		{Filter{Names: []string{"billing"}}, [3]bool{true, true, false}},
		{Filter{Types: []Type{Delivered}, Names: []string{"other"}}, [3]bool{false, false, false}},
	}
	for _, tt := range tests {
		for i, e := range []*Event{api, smtp, anon} {
			if got := tt.f.Match(e); got != tt.want[i] {
				t.Errorf("%+v.Match(event %d) = %v", tt.f, i, got)
			}
		}
	}
}

func TestParseType(t *testing.T) {
	for _, ty := range Types {
		if got, err := ParseType(string(ty)); err != nil || got != ty {
			t.Errorf("ParseType(%q) = %q, %v", ty, got, err)
		}
	}
	if _, err := ParseType("opened"); err == nil {
		t.Error("opened accepted")
	}
}
