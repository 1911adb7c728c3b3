package dsn

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/mxout/mxout/internal/mailtext"
)

// maxValue bounds a field value, so that even unfolded it stays far below
// the 998-octet line limit of RFC 5322 §2.1.1.
const maxValue = 900

// statusPart renders the message/delivery-status part (RFC 3464 §2). It is
// message/global-delivery-status (RFC 6533 §6.2) only when the report
// travels over SMTPUTF8 and a field needs UTF-8; otherwise non-ASCII is
// escaped and the part is 7-bit.
func (r *Report) statusPart(utf8Transport bool) (p part, global bool) {
	global = utf8Transport && r.statusNeedsUTF8()
	var b strings.Builder
	field := func(name, value string) { writeField(&b, name, value) }
	if r.EnvelopeID != "" {
		field("Original-Envelope-Id", text(r.EnvelopeID, false))
	}
	field("Reporting-MTA", "dns; "+clean(r.ReportingMTA))
	if !r.Arrival.IsZero() {
		field("Arrival-Date", r.Arrival.Format(dateFormat))
	}
	if r.QueueID != "" {
		field("X-Mxout-Queue-ID", text(r.QueueID, false))
	}
	for _, rc := range r.Recipients {
		b.WriteString("\r\n")
		if o, ok := typedORCPT(rc.ORCPT, global); ok {
			field("Original-Recipient", o)
		}
		field("Final-Recipient", typedAddr(rc.Addr, global))
		field("Action", string(rc.Action))
		field("Status", statusCode(rc.Status, rc.Action))
		if rc.RemoteMTA != "" {
			field("Remote-MTA", "dns; "+text(rc.RemoteMTA, global))
		}
		if rc.Response != "" {
			field("Diagnostic-Code", diagnostic(rc.Response, global))
		}
		if !rc.LastAttempt.IsZero() {
			field("Last-Attempt-Date", rc.LastAttempt.Format(dateFormat))
		}
		if !rc.WillRetryUntil.IsZero() && rc.Action == Delayed {
			field("Will-Retry-Until", rc.WillRetryUntil.Format(dateFormat))
		}
	}
	p = part{contentType: "message/delivery-status", encoding: "7bit", body: []byte(b.String())}
	if global {
		p.contentType, p.encoding = "message/global-delivery-status", "8bit"
	}
	return p, global
}

func (r *Report) statusNeedsUTF8() bool {
	for _, rc := range r.Recipients {
		if !mailtext.IsASCII(rc.Addr) || !mailtext.IsASCII(rc.ORCPT) || !mailtext.IsASCII(rc.Response) || !mailtext.IsASCII(rc.RemoteMTA) {
			return true
		}
	}
	return false
}

// writeField writes "Name: value", folded at spaces before column 78
// (RFC 5322 §2.2.3); value is already one line without double spaces.
func writeField(b *strings.Builder, name, value string) {
	first := name + ":"
	line := first
	for _, word := range strings.Split(value, " ") {
		if line != first && len(line)+1+len(word) > 78 {
			b.WriteString(line + "\r\n")
			line = "\t" + word
			continue
		}
		line += " " + word
	}
	b.WriteString(line + "\r\n")
}

// typedAddr is an address with its RFC 3464 address type: "rfc822; a@b"
// for ASCII, "utf-8; ..." (RFC 6533 §3) otherwise, in raw UTF-8 only in a
// global part and as utf-8-addr-xtext elsewhere.
func typedAddr(addr string, global bool) string {
	addr = clip(clean(addr))
	switch {
	case mailtext.IsASCII(addr):
		return "rfc822; " + addr
	case global:
		return "utf-8; " + addr
	default:
		return "utf-8; " + clipEscaped(utf8AddrXtext(addr))
	}
}

// typedORCPT renders a stored ORCPT ("RFC822;a@b" or "UTF-8;...") for the
// Original-Recipient field, with the address decoded (RFC 3461 §6.3).
func typedORCPT(orcpt string, global bool) (string, bool) {
	typ, addr, ok := strings.Cut(orcpt, ";")
	addr = clip(clean(addr))
	if !ok || addr == "" {
		return "", false
	}
	switch strings.ToLower(strings.TrimSpace(typ)) {
	case "rfc822":
		if !mailtext.IsASCII(addr) {
			return typedAddr(addr, global), true
		}
		return "rfc822; " + addr, true
	case "utf-8":
		if global || mailtext.IsASCII(addr) && !strings.ContainsAny(addr, `+=\`) {
			return "utf-8; " + addr, true
		}
		return "utf-8; " + clipEscaped(utf8AddrXtext(addr)), true
	default:
		return "", false
	}
}

// utf8AddrXtext encodes an address as RFC 6533 utf-8-addr-xtext: QCHARs
// (printable ASCII but for "+", "=" and "\") stay, anything else becomes
// \x{HEX}.
func utf8AddrXtext(s string) string {
	var b strings.Builder
	for _, c := range s {
		if c > ' ' && c < 0x7f && c != '+' && c != '=' && c != '\\' {
			b.WriteRune(c)
			continue
		}
		fmt.Fprintf(&b, `\x{%X}`, c)
	}
	return b.String()
}

var replyCode = regexp.MustCompile(`^[245][0-9][0-9]( |$)`)

// diagnostic is the Diagnostic-Code value: "smtp; <reply>" for a remote
// server's reply, "X-mxout; <reason>" for the relay's own reason.
func diagnostic(response string, global bool) string {
	t := text(response, global)
	if replyCode.MatchString(t) {
		return "smtp; " + t
	}
	return "X-mxout; " + t
}

var statusSyntax = regexp.MustCompile(`^[245]\.[0-9]{1,3}\.[0-9]{1,3}$`)

// statusCode returns status if it is a well-formed RFC 3463 code whose
// class fits the action, else the generic code of the action.
func statusCode(status string, a Action) string {
	want := byte('2')
	switch a {
	case Failed:
		want = '5'
	case Delayed:
		want = '4'
	}
	if statusSyntax.MatchString(status) && status[0] == want {
		return status
	}
	return string(want) + ".0.0"
}

// text makes s a single line of printable text no longer than maxValue;
// non-ASCII stays only where UTF-8 is allowed, else becomes \x{HEX}.
func text(s string, utf8OK bool) string {
	s = clip(clean(s))
	if utf8OK || mailtext.IsASCII(s) {
		return s
	}
	var b strings.Builder
	for _, c := range s {
		if c < 0x80 {
			b.WriteRune(c)
		} else {
			fmt.Fprintf(&b, `\x{%X}`, c)
		}
	}
	return clipEscaped(b.String())
}

// clipEscaped clips an escaped string without cutting an escape in two.
func clipEscaped(s string) string {
	if len(s) <= maxValue {
		return s
	}
	s = s[:maxValue] // escapes are ASCII
	if i := strings.LastIndex(s, `\x{`); i >= 0 && !strings.Contains(s[i:], "}") {
		s = s[:i]
	}
	return s
}

// clean turns s into one line: invalid UTF-8 and control characters
// become spaces, runs of spaces one space.
func clean(s string) string {
	s = strings.ToValidUTF8(s, " ")
	s = strings.Map(func(c rune) rune {
		if c < ' ' || c == 0x7f || c >= 0x80 && c < 0xa0 || c == '\u2028' || c == '\u2029' {
			return ' '
		}
		return c
	}, s)
	return mailtext.OneLine(s)
}

// clip cuts s to at most maxValue bytes on a rune boundary.
func clip(s string) string { return mailtext.Clip(s, maxValue, "") }
