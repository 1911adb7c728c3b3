package dsn

import (
	"bytes"
	"fmt"
	"mime/quotedprintable"
	"strings"
	"time"

	"github.com/mxout/mxout/internal/mailtext"
)

// textPart renders the human-readable first part: what happened, each
// recipient with the remote reply, and where the message stands.
func (r *Report) textPart(utf8Transport bool) part {
	var b strings.Builder
	line := func(format string, a ...any) { fmt.Fprintf(&b, format+"\r\n", a...) }
	line("This is the mail system at host %s.", clean(r.ReportingMTA))
	line("")
	for _, l := range r.intro() {
		line("%s", l)
	}
	line("")
	for _, rc := range r.Recipients {
		b.WriteString(wrap("<"+clip(clean(rc.Addr))+">: "+explain(rc), "    "))
	}
	line("")
	line("The message was received at %s", r.Arrival.Format(dateFormat))
	line("and given queue ID %s. %s", clean(r.QueueID), r.returned())
	if r.Note != "" {
		line("")
		b.WriteString(wrap(clip(clean(r.Note)), ""))
	}
	return encodeText(b.String(), utf8Transport)
}

// intro is the opening paragraph, by kind.
func (r *Report) intro() []string {
	switch {
	case r.ToPostmaster:
		return []string{
			"A message with the null sender <> could not be delivered to one or more",
			"of its recipients. Mail with the null sender (such as a bounce) is never",
			"returned, so this report goes to the postmaster instead.",
		}
	case r.Kind == Delay:
		l := []string{"Your message has not yet been delivered to one or more of its recipients."}
		if until := r.retryUntil(); !until.IsZero() {
			l = append(l, "The relay is still trying, and will give up at "+until.Format(dateFormat)+".")
		} else {
			l = append(l, "The relay is still trying.")
		}
		return append(l, "You do not need to send the message again.")
	case r.Kind == Success:
		return []string{"Your message was delivered to the recipients below, as you asked."}
	default:
		return []string{
			"Your message could not be delivered to one or more of its recipients.",
			"The errors below are permanent: the relay has stopped trying.",
		}
	}
}

func (r *Report) retryUntil() time.Time {
	var until time.Time
	for _, rc := range r.Recipients {
		if !rc.WillRetryUntil.IsZero() && (until.IsZero() || rc.WillRetryUntil.Before(until)) {
			until = rc.WillRetryUntil
		}
	}
	return until
}

// returned says what of the original is attached.
func (r *Report) returned() string {
	switch {
	case r.Original == nil || r.Return == ReturnNothing:
		return "It is not attached."
	case r.Return == ReturnHeaders:
		return "Its headers are attached."
	default:
		return "It is attached."
	}
}

// explain is one recipient's line after "<addr>: ".
func explain(rc Recipient) string {
	host := clean(rc.RemoteMTA)
	resp := clip(clean(rc.Response))
	switch rc.Action {
	case Relayed, Delivered:
		s := string(rc.Action)
		if host != "" {
			s += " to host " + host
		}
		if resp != "" {
			s += " (" + resp + ")"
		}
		if rc.Action == Relayed {
			s += ", which does not send delivery notices; this is the last notice about this recipient"
		}
		return s
	}
	switch {
	case resp == "":
		return "status " + statusCode(rc.Status, rc.Action)
	case host != "" && replyCode.MatchString(resp):
		return "host " + host + " said: " + resp
	default:
		return resp
	}
}

// wrap breaks s at spaces into CRLF-ended lines of at most 76 columns
// (longer only for a single long word), continuation lines indented.
func wrap(s, indent string) string {
	var b strings.Builder
	line := ""
	for _, word := range strings.Fields(s) {
		if line != "" && len(line)+1+len(word) > 76 {
			b.WriteString(line + "\r\n")
			line = indent + word
			continue
		}
		if line == "" {
			line = word
		} else {
			line += " " + word
		}
	}
	b.WriteString(line + "\r\n")
	return b.String()
}

// encodeText makes the text/plain part: US-ASCII as is; UTF-8 as 8bit
// when the report travels with SMTPUTF8, quoted-printable otherwise.
func encodeText(s string, utf8Transport bool) part {
	switch {
	case mailtext.IsASCII(s):
		return part{contentType: "text/plain; charset=us-ascii", encoding: "7bit", body: []byte(s)}
	case utf8Transport:
		return part{contentType: "text/plain; charset=utf-8", encoding: "8bit", body: []byte(s)}
	}
	var b bytes.Buffer
	w := quotedprintable.NewWriter(&b)
	w.Write([]byte(s)) // writes to a bytes.Buffer do not fail
	w.Close()
	if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	return part{contentType: "text/plain; charset=utf-8", encoding: "quoted-printable", body: b.Bytes()}
}
