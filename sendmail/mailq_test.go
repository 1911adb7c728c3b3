package sendmail

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/mailq.golden (go test ./sendmail -run TestMailq -update)")

// The listing has the layout of Postfix's mailq (postqueue -p with long
// queue IDs, as its showq_compat.c prints): markers, columns, reason
// lines right-aligned at column 76 and only when the reason changes, the
// summary; a remote server's reason is one printable line.
func TestMailq_PostfixFormat(t *testing.T) {
	t.Parallel()
	utc := time.UTC
	msgs := []QueuedMessage{
		{ID: "33lkhdd1ms5jqu1equig", Size: 1234, Arrival: time.Date(2026, 12, 1, 9, 5, 7, 0, utc), Sender: "app@example.com",
			Recipients: []QueuedRecipient{{Addr: "a@example.net"}}},
		{ID: "33lkhdd2n1hi93955s4g", Active: true, Size: 20480, Arrival: time.Date(2026, 12, 1, 14, 30, 0, 0, utc), Sender: "",
			Recipients: []QueuedRecipient{{Addr: "bounce@example.org"}}},
		{ID: "33lkhdd3aaaaaaaaaaaa", Held: true, Size: 512, Arrival: time.Date(2026, 11, 30, 23, 59, 59, 0, utc), Sender: "ops@example.com",
			Recipients: []QueuedRecipient{
				{Addr: "x@slow.example", Reason: "451 4.7.1 Greylisted, try again later"},
				{Addr: "y@slow.example", Reason: "451 4.7.1 Greylisted, try again later"},
				{Addr: "z@other.example"},
				{Addr: "w@evil.example", Reason: "421 4.3.0 \x1b[31mred\r\n  and a second line"},
			}},
	}
	var b strings.Builder
	q := NewMailq(&b, utc)
	for _, m := range msgs {
		if err := q.Message(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.End(); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "mailq.golden")
	if *update {
		os.WriteFile(golden, []byte(b.String()), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Errorf("mailq output:\n%s\nwant:\n%s", b.String(), want)
	}
	last := b.String()[strings.LastIndex(strings.TrimSuffix(b.String(), "\n"), "\n")+1:]
	if last != "-- 21 Kbytes in 3 Requests.\n" {
		t.Errorf("summary %q", last)
	}
}

func TestMailq_EmptyAndOne(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	q := NewMailq(&b, time.UTC)
	if err := q.End(); err != nil || b.String() != "Mail queue is empty\n" {
		t.Errorf("empty queue: %q, %v", b.String(), err)
	}
	b.Reset()
	q = NewMailq(&b, time.UTC)
	q.Message(QueuedMessage{ID: "x", Size: 3000, Arrival: time.Unix(0, 0), Sender: "a@b.example"})
	q.End()
	if !strings.HasSuffix(b.String(), "\n\n-- 2 Kbytes in 1 Request.\n") {
		t.Errorf("one message: %q", b.String())
	}
}
