package sendmail

import (
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"

	"github.com/mxout/mxout/internal/mailtext"
)

// QueuedMessage is one message as mailq lists it.
type QueuedMessage struct {
	ID string
	// Active marks a message being delivered now (Postfix's active queue:
	// "*" after the ID); Held one on hold ("!").
	Active, Held bool
	Size         int64
	Arrival      time.Time
	// Sender is the envelope sender; "" is the null sender, listed as
	// MAILER-DAEMON.
	Sender string
	// Recipients are the recipients not yet delivered or failed.
	Recipients []QueuedRecipient
}

// QueuedRecipient is a recipient still to deliver, with why its last
// attempt did not succeed ("" when none was made).
type QueuedRecipient struct {
	Addr, Reason string
}

// Postfix's mailq layout with long queue IDs (postqueue's showq_compat.c):
// mxout's queue IDs are 20 characters, longer than the column, which
// Postfix's own long IDs may be too; the columns then shift for that line,
// as in Postfix, and every parser splits on white space.
const (
	mailqLine     = "%-17s %8s %-19s %s\n"
	mailqMessage  = "%-17s %8d %19.19s %s\n"
	mailqAsctime  = "Mon Jan _2 15:04:05"
	mailqReasonAt = 76 // a "(reason)" line ends at this column
	mailqMaxWhy   = 1000
)

// Mailq writes a queue listing as Postfix's mailq (postqueue -p) does, one
// message at a time, so that a large queue never sits in memory: a
// heading, a block per message (ID with "*" while being delivered or "!"
// while held, size, arrival time, sender; then each recipient to deliver,
// after its deferral reason in parentheses), and "-- N Kbytes in M
// Requests." or "Mail queue is empty". Monitoring such as check_mailq
// reads the last line.
type Mailq struct {
	w     io.Writer
	loc   *time.Location
	count int64
	bytes int64
}

// NewMailq returns a Mailq writing to w, with times in loc (Postfix prints
// the local time).
func NewMailq(w io.Writer, loc *time.Location) *Mailq {
	return &Mailq{w: w, loc: loc}
}

// Message lists one message.
func (q *Mailq) Message(m QueuedMessage) error {
	var b strings.Builder
	if q.count == 0 {
		fmt.Fprintf(&b, mailqLine, "----Queue ID-----", "--Size--", "---Arrival Time----", "--Sender/Recipient------")
	} else {
		b.WriteString("\n")
	}
	q.count++
	q.bytes += m.Size
	id := printable(m.ID)
	switch {
	case m.Held:
		id += "!"
	case m.Active:
		id += "*"
	}
	sender := printable(m.Sender)
	if sender == "" {
		sender = "MAILER-DAEMON"
	}
	fmt.Fprintf(&b, mailqMessage, id, m.Size, m.Arrival.In(q.loc).Format(mailqAsctime), sender)
	shown := ""
	for _, r := range m.Recipients {
		// As Postfix: a reason line when it differs from the one above;
		// "reason unavailable" when a recipient has none after one that had.
		if why := printable(r.Reason); why != shown {
			shown = why
			if why == "" {
				why = "reason unavailable"
			}
			fmt.Fprintf(&b, "%*s(%s)\n", max(mailqReasonAt-len(why), 0), "", why)
		}
		fmt.Fprintf(&b, mailqLine, "", "", "", printable(r.Addr))
	}
	_, err := io.WriteString(q.w, b.String())
	return err
}

// End writes the summary line.
func (q *Mailq) End() error {
	if q.count == 0 {
		_, err := io.WriteString(q.w, "Mail queue is empty\n")
		return err
	}
	plural := "s"
	if q.count == 1 {
		plural = ""
	}
	_, err := fmt.Fprintf(q.w, "\n-- %d Kbytes in %d Request%s.\n", q.bytes/1024, q.count, plural)
	return err
}

// printable is s on one line, bounded, with characters a terminal would
// act on replaced by "?" (Postfix's printable()): a deferral reason is a
// remote server's text.
func printable(s string) string {
	s = mailtext.Clip(mailtext.OneLine(s), mailqMaxWhy, "...")
	return strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) {
			return '?'
		}
		return r
	}, s)
}
