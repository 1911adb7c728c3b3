package dsn

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mxout/mxout/internal/mailtext"
)

// Kind is which notice a report is. Its value is also the type label of
// the mxout_bounces_sent_total metric.
type Kind string

// The three notices.
const (
	Failure Kind = "failure" // recipients failed for good
	Delay   Kind = "delay"   // recipients are still being retried
	Success Kind = "success" // recipients were delivered or relayed
)

// Action is what happened to one recipient (RFC 3464 §2.3.3).
type Action string

// The actions a relay reports.
const (
	Failed    Action = "failed"
	Delayed   Action = "delayed"
	Delivered Action = "delivered"
	// Relayed means the message went to a server that does not offer DSN,
	// so no further notice will come (RFC 3461 §5.2.2).
	Relayed Action = "relayed"
)

// Return is how much of the original message a report carries.
type Return int

// What a report returns of the original.
const (
	ReturnNothing Return = iota
	ReturnHeaders        // the header block only (text/rfc822-headers)
	ReturnFull           // the whole message (message/rfc822)
)

// Report describes one delivery status notification.
type Report struct {
	Kind Kind
	// ReportingMTA is this relay's host name: the Reporting-MTA field, the
	// domain of the From address (MAILER-DAEMON@host).
	ReportingMTA string
	// To is the report's recipient: the original envelope sender, or the
	// postmaster (with ToPostmaster).
	To string
	// ToPostmaster marks the copy of a failure report sent to the
	// postmaster because the original had the null sender.
	ToPostmaster bool
	// MessageID is the report's own Message-ID, without angle brackets.
	MessageID string
	// Date is when the report was made.
	Date time.Time
	// QueueID is the original message's queue ID, quoted in the text and
	// in the X-Mxout-Queue-ID field.
	QueueID string
	// EnvelopeID is the original's ENVID (RFC 3461 §4.4), if it had one.
	EnvelopeID string
	// Arrival is when the original was accepted.
	Arrival time.Time
	// Recipients are the recipients the report is about, at least one.
	Recipients []Recipient
	// Original is the original message as queued, headers and body, with
	// CRLF line ends (submission refuses bare CR and LF); nil if it is not
	// at hand.
	Original []byte
	// Return says what of Original to include.
	Return Return
	// Note is an extra paragraph for the text part, such as why only the
	// headers are attached.
	Note string
}

// Recipient is one recipient's fields in a report.
type Recipient struct {
	// Addr is the recipient as the relay tried it (Final-Recipient).
	Addr string
	// ORCPT is the RCPT ORCPT parameter as "type;address", decoded; empty
	// if none was given (Original-Recipient).
	ORCPT  string
	Action Action
	// Status is the RFC 3463 enhanced status code, e.g. "5.1.1".
	Status string
	// RemoteMTA is the host whose reply is Response; empty for a failure
	// decided by the relay itself (DNS, expiry).
	RemoteMTA string
	// Response is the remote reply ("550 5.1.1 no such user") or the
	// relay's own reason (Diagnostic-Code).
	Response string
	// LastAttempt is when the recipient was last tried.
	LastAttempt time.Time
	// WillRetryUntil is when a delayed recipient will be given up.
	WillRetryUntil time.Time
}

// dateFormat is the RFC 5322 date-time.
const dateFormat = "Mon, 02 Jan 2006 15:04:05 -0700"

// NeedsSMTPUTF8 reports whether the report can only travel with SMTPUTF8,
// because its recipient's address is not ASCII.
func (r *Report) NeedsSMTPUTF8() bool { return !mailtext.IsASCII(r.To) }

// Subject is the report's Subject line; Postfix's wording, so that people
// and filters recognise it.
func (r *Report) Subject() string {
	switch {
	case r.ToPostmaster:
		return "Postmaster Copy: Undelivered Mail"
	case r.Kind == Delay:
		return "Delayed Mail (still being retried)"
	case r.Kind == Success:
		return "Successful Mail Delivery Report"
	default:
		return "Undelivered Mail Returned to Sender"
	}
}

// part is one body part of the report.
type part struct {
	contentType, encoding, description string
	body                               []byte
}

// Bytes renders the report as a message with CRLF line ends, ready to be
// queued with the null sender.
func (r *Report) Bytes() ([]byte, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	utf8 := r.NeedsSMTPUTF8()
	status, global := r.statusPart(utf8)
	parts := []part{r.textPart(utf8), status}
	if p, ok := r.originalPart(utf8); ok {
		parts = append(parts, p)
	}
	reportType := "delivery-status"
	if global {
		reportType = "global-delivery-status" // RFC 6522 §3: the second part's subtype
	}
	boundary := chooseBoundary(r.MessageID, parts)

	var b bytes.Buffer
	header := func(name, value string) { b.WriteString(name + ": " + value + "\r\n") }
	header("Date", r.Date.Format(dateFormat))
	header("From", "Mail Delivery System <MAILER-DAEMON@"+clean(r.ReportingMTA)+">")
	header("To", "<"+clean(r.To)+">")
	header("Subject", r.Subject())
	header("Message-ID", "<"+clean(r.MessageID)+">")
	if id := originalMessageID(r.Original); id != "" {
		header("References", id)
	}
	header("Auto-Submitted", "auto-replied") // RFC 3834 §5
	header("MIME-Version", "1.0")
	header("Content-Type", "multipart/report; report-type="+reportType+";\r\n\tboundary=\""+boundary+"\"")
	b.WriteString("\r\nThis is a MIME-encapsulated delivery status notification.\r\n")
	for _, p := range parts {
		b.WriteString("\r\n--" + boundary + "\r\n")
		if p.description != "" {
			header("Content-Description", p.description)
		}
		header("Content-Type", p.contentType)
		header("Content-Transfer-Encoding", p.encoding)
		b.WriteString("\r\n")
		b.Write(p.body)
	}
	b.WriteString("\r\n--" + boundary + "--\r\n")
	return b.Bytes(), nil
}

func (r *Report) check() error {
	var errs []error
	switch r.Kind {
	case Failure, Delay, Success:
	default:
		errs = append(errs, fmt.Errorf("unknown kind %q", r.Kind))
	}
	if clean(r.ReportingMTA) == "" || strings.ContainsAny(r.ReportingMTA, " <>") {
		errs = append(errs, fmt.Errorf("reporting MTA %q is not a host name", r.ReportingMTA))
	}
	if clean(r.To) == "" {
		errs = append(errs, errors.New("no recipient for the report"))
	}
	if clean(r.MessageID) == "" {
		errs = append(errs, errors.New("no Message-ID"))
	}
	if len(r.Recipients) == 0 {
		errs = append(errs, errors.New("no recipients to report on"))
	}
	for i, rc := range r.Recipients {
		if clean(rc.Addr) == "" {
			errs = append(errs, fmt.Errorf("recipient %d has no address", i))
		}
		switch rc.Action {
		case Failed, Delayed, Delivered, Relayed:
		default:
			errs = append(errs, fmt.Errorf("recipient %d: unknown action %q", i, rc.Action))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("dsn: %w", err)
	}
	return nil
}

// chooseBoundary derives a boundary from the report's Message-ID, so that
// output is reproducible, and numbers it until no part contains it. The
// Message-ID holds the report's random queue ID, so an original cannot
// be crafted to contain it in advance; the numbering is the safety net.
func chooseBoundary(messageID string, parts []part) string {
	var b strings.Builder
	b.WriteString("=_mxout_")
	for _, c := range messageID {
		if c < 0x80 && (c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '.') && b.Len() < 48 {
			b.WriteRune(c)
		}
	}
	base := b.String()
	boundary := base
	for n := 1; inAny(parts, "--"+boundary); n++ {
		boundary = base + "_" + strconv.Itoa(n)
	}
	return boundary
}

func inAny(parts []part, s string) bool {
	for _, p := range parts {
		if bytes.Contains(p.body, []byte(s)) {
			return true
		}
	}
	return false
}
