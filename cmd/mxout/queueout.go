package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mxout/mxout/admin"
	"github.com/mxout/mxout/internal/mailtext"
)

// timeFormat is how the human output shows times, in the local zone.
const timeFormat = "2006-01-02 15:04:05 MST"

// listPrinter writes a listing as it is paged in: a table like mailq's,
// IDs only, or one JSON object whose "messages" array is streamed, so a
// million-message queue never sits in memory.
type listPrinter struct {
	w           io.Writer
	src         *source
	json, quiet bool
	count       int
	bytes       int64
}

func newListPrinter(w io.Writer, src *source, asJSON, quiet bool) *listPrinter {
	return &listPrinter{w: w, src: src, json: asJSON, quiet: quiet && !asJSON}
}

func (p *listPrinter) begin() error {
	var err error
	switch {
	case p.json:
		_, err = fmt.Fprintf(p.w, `{"mode":%q,"source":%q,"messages":[`, p.src.Mode, p.src.Where)
	case !p.quiet:
		_, err = fmt.Fprintf(p.w, "%-20s  %-11s  %9s  %-23s  %s\n", "ID", "STATE", "SIZE", "ARRIVAL", "SENDER / RECIPIENTS")
	}
	return err
}

func (p *listPrinter) message(m admin.Message) error {
	p.count++
	p.bytes += m.Size
	switch {
	case p.json:
		b, err := json.Marshal(m)
		if err != nil {
			return err
		}
		sep := ",\n"
		if p.count == 1 {
			sep = "\n"
		}
		_, err = fmt.Fprintf(p.w, "%s%s", sep, b)
		return err
	case p.quiet:
		_, err := fmt.Fprintln(p.w, m.ID)
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-20s  %-11s  %9s  %-23s  %s\n", m.ID, m.State, humanBytes(m.Size), m.Arrival.Local().Format(timeFormat), senderOf(m))
	for _, r := range m.Recipients {
		fmt.Fprintf(&b, "%-20s  %s  %s\n", "", r.Addr, recipientSummary(r))
	}
	if q := m.Quarantine; q != nil {
		fmt.Fprintf(&b, "%-20s  quarantined %s: %s\n", "", q.At.Local().Format(timeFormat), mailtext.OneLine(q.Reason))
	}
	_, err := io.WriteString(p.w, b.String())
	return err
}

// end closes the listing; more reports that --max cut it short.
func (p *listPrinter) end(more bool) error {
	var err error
	switch {
	case p.json:
		_, err = fmt.Fprintf(p.w, "\n]}\n")
	case !p.quiet:
		cut := ""
		if more {
			cut = ", stopped at --max"
		}
		_, err = fmt.Fprintf(p.w, "-- %s, %s (%s%s)\n", count(p.count, "message"), humanBytes(p.bytes), p.src.Describe(), cut)
	}
	return err
}

// recipientSummary is a recipient's state in a few words, with the last
// reply for one that was tried.
func recipientSummary(r admin.Recipient) string {
	s := r.State
	if r.Attempts > 0 {
		s += fmt.Sprintf(", %d attempts", r.Attempts)
	}
	if r.State == "pending" && !r.NextAttempt.IsZero() && r.Attempts > 0 {
		s += ", next " + r.NextAttempt.Local().Format(timeFormat)
	}
	if r.LastResponse != "" {
		s += ": " + mailtext.OneLine(r.LastResponse)
	}
	return s
}

func printMessage(w io.Writer, src *source, m admin.Message, asJSON bool) error {
	if asJSON {
		return writeJSONOut(w, src, "message", m)
	}
	var b strings.Builder
	now := time.Now()
	fmt.Fprintf(&b, "Message %s (%s)\n", m.ID, m.State)
	fmt.Fprintf(&b, "  from:     %s\n", senderOf(m))
	fmt.Fprintf(&b, "  arrival:  %s (%s)\n", m.Arrival.Local().Format(timeFormat), relative(m.Arrival, now))
	fmt.Fprintf(&b, "  size:     %d bytes\n", m.Size)
	if !m.Due.IsZero() {
		fmt.Fprintf(&b, "  due:      %s (%s)\n", m.Due.Local().Format(timeFormat), relative(m.Due, now))
	}
	if m.Client != "" || m.User != "" {
		fmt.Fprintf(&b, "  client:   %s %s\n", m.Client, m.User)
	}
	if m.Ret != "" || m.EnvID != "" {
		fmt.Fprintf(&b, "  dsn:      ret=%s envid=%s\n", m.Ret, m.EnvID)
	}
	if q := m.Quarantine; q != nil {
		fmt.Fprintf(&b, "  quarantined: %s (%s): %s\n", q.At.Local().Format(timeFormat), relative(q.At, now), mailtext.OneLine(q.Reason))
	}
	fmt.Fprintf(&b, "Recipients (%d):\n", len(m.Recipients))
	for _, r := range m.Recipients {
		fmt.Fprintf(&b, "  %s\n    %s, %d attempts", r.Addr, r.State, r.Attempts)
		if !r.LastAttempt.IsZero() {
			fmt.Fprintf(&b, ", last %s", r.LastAttempt.Local().Format(timeFormat))
		}
		if r.State == "pending" && !r.NextAttempt.IsZero() {
			fmt.Fprintf(&b, ", next %s (%s)", r.NextAttempt.Local().Format(timeFormat), relative(r.NextAttempt, now))
		}
		b.WriteString("\n")
		if r.LastResponse != "" {
			fmt.Fprintf(&b, "    last reply: %s", mailtext.OneLine(r.LastResponse))
			if r.RemoteMTA != "" {
				fmt.Fprintf(&b, " (from %s)", r.RemoteMTA)
			}
			b.WriteString("\n")
		}
	}
	if m.HeadersWithheld {
		b.WriteString("Headers: withheld (only the admin socket, as root or the user mxout runs as, or admin.token may read them)\n")
	}
	if m.Headers != "" {
		b.WriteString("Headers:\n")
		for _, line := range strings.Split(strings.TrimRight(m.Headers, "\r\n"), "\r\n") {
			fmt.Fprintf(&b, "  %s\n", line)
		}
	}
	fmt.Fprintf(&b, "-- %s\n", src.Describe())
	_, err := io.WriteString(w, b.String())
	return err
}

func printStats(w io.Writer, src *source, s admin.Stats, asJSON bool) error {
	if asJSON {
		return writeJSONOut(w, src, "stats", s)
	}
	oldest := "-"
	if !s.Oldest.IsZero() {
		oldest = fmt.Sprintf("%s (%s)", s.Oldest.Local().Format(timeFormat), relative(s.Oldest, time.Now()))
	}
	quarantined := ""
	if s.Quarantined > 0 {
		quarantined = fmt.Sprintf("quarantined %d (unreadable, not in the total: mxout queue list --state quarantined)\n", s.Quarantined)
	}
	_, err := fmt.Fprintf(w, "ready     %d\ndeferred  %d\ninflight  %d\nheld      %d\ntotal     %d\nbytes     %d (%s)\noldest    %s\n%s-- %s\n",
		s.Ready, s.Deferred, s.Inflight, s.Held, s.Total, s.Bytes, humanBytes(s.Bytes), oldest, quarantined, src.Describe())
	return err
}

// writeJSONOut writes {"mode": ..., "source": ..., key: v}.
func writeJSONOut(w io.Writer, src *source, key string, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]any{"mode": src.Mode, "source": src.Where, key: v})
}

// senderOf is the envelope sender to show; a quarantined record may not
// have one that could be read.
func senderOf(m admin.Message) string {
	if m.Quarantine != nil && m.From == "" {
		return "(unreadable)"
	}
	return sender(m.From)
}

func sender(from string) string {
	if from == "" {
		return "<>"
	}
	return from
}

// relative says "3h2m ago" or "in 5m".
func relative(t, now time.Time) string {
	d := now.Sub(t).Round(time.Second)
	if d >= 0 {
		return d.String() + " ago"
	}
	return "in " + (-d).String()
}

// count is n and the noun, in the plural unless n is 1: "1 message".
func count[N int | int64](n N, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
