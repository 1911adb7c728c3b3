package submission

import (
	"bytes"
	"net/netip"
	"strings"
	"time"

	"github.com/mxout/mxout/queue"
)

// headerInfo is what the relay needs to know about a message's header
// section before it adds its own fields.
type headerInfo struct {
	// HasHeader is false when the message starts with a line that is
	// neither a header field nor the empty separator line: it is then all
	// body, and the relay's fields need a separator line after them.
	HasHeader             bool
	HasMessageID, HasDate bool
}

// scanHeader reads the header section of msg: the lines up to the first
// empty line, or up to the first line that is not a header field or its
// continuation (a malformed header ends the section, as most readers
// treat it). Lines end in LF with an optional CR before it.
func scanHeader(msg []byte) headerInfo {
	var h headerInfo
	for first := true; len(msg) > 0; first = false {
		line := msg
		if i := bytes.IndexByte(msg, '\n'); i >= 0 {
			line, msg = msg[:i], msg[i+1:]
		} else {
			msg = nil
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) == 0 {
			// The separator: an empty header section still is one.
			h.HasHeader = true
			return h
		}
		if line[0] == ' ' || line[0] == '\t' {
			if first {
				return h
			}
			continue // folded continuation of the previous field
		}
		name, ok := fieldName(line)
		if !ok {
			return h
		}
		h.HasHeader = true
		switch {
		case strings.EqualFold(name, "Message-ID"):
			h.HasMessageID = true
		case strings.EqualFold(name, "Date"):
			h.HasDate = true
		}
	}
	return h
}

// fieldName returns the name of a header field line (RFC 5322 2.2:
// printable ASCII except colon), allowing the obsolete white space before
// the colon (RFC 5322 4.5).
func fieldName(line []byte) (string, bool) {
	colon := bytes.IndexByte(line, ':')
	if colon < 0 {
		return "", false
	}
	name := bytes.TrimRight(line[:colon], " \t")
	if len(name) == 0 {
		return "", false
	}
	for _, c := range name {
		if c < 33 || c > 126 {
			return "", false
		}
	}
	return string(name), true
}

// stamp describes the Received, Message-ID and Date fields to add.
type stamp struct {
	ID       queue.ID
	Hostname string
	Helo     string
	IP       netip.Addr
	TLS      bool
	Auth     bool
	// Rcpt is named in the Received field when the message has exactly one
	// recipient; with more it would disclose the others (RFC 5321 4.4).
	Rcpt string
	Now  time.Time
}

// stampMessage returns msg with a Received field in front and Message-ID
// and Date added when its header section lacks them. msg itself is copied
// unchanged after the added fields.
func stampMessage(msg []byte, st stamp) []byte {
	h := scanHeader(msg)
	date := st.Now.Format(time.RFC1123Z)
	var b bytes.Buffer
	b.Grow(len(msg) + 512)
	b.WriteString("Received: from ")
	b.WriteString(sanitizeHelo(st.Helo))
	b.WriteString(" (")
	b.WriteString(ipLiteral(st.IP))
	b.WriteString(")\r\n\tby ")
	b.WriteString(st.Hostname)
	b.WriteString(" (mxout) with ")
	b.WriteString(protocol(st.TLS, st.Auth))
	b.WriteString(" id ")
	b.WriteString(string(st.ID))
	if st.Rcpt != "" {
		b.WriteString("\r\n\tfor <")
		b.WriteString(st.Rcpt)
		b.WriteString(">; ")
	} else {
		b.WriteString(";\r\n\t")
	}
	b.WriteString(date)
	b.WriteString("\r\n")
	if !h.HasMessageID {
		b.WriteString("Message-ID: <" + string(st.ID) + "@" + st.Hostname + ">\r\n")
	}
	if !h.HasDate {
		b.WriteString("Date: " + date + "\r\n")
	}
	if !h.HasHeader {
		b.WriteString("\r\n")
	}
	b.Write(msg)
	return b.Bytes()
}

// protocol is the RFC 3848 "with" keyword.
func protocol(tls, auth bool) string {
	p := "ESMTP"
	if tls {
		p += "S"
	}
	if auth {
		p += "A"
	}
	return p
}

// ipLiteral writes ip as an RFC 5321 address literal.
func ipLiteral(ip netip.Addr) string {
	switch {
	case !ip.IsValid():
		return "[unknown]"
	case ip.Is4():
		return "[" + ip.String() + "]"
	default:
		return "[IPv6:" + ip.WithZone("").String() + "]"
	}
}

// maxHeloLen bounds the client's EHLO name in the Received field.
const maxHeloLen = 255

// sanitizeHelo makes the client's EHLO argument safe in a header: it is
// untrusted text, and a CR, LF or parenthesis in it could forge fields or
// comments.
func sanitizeHelo(helo string) string {
	if helo == "" {
		return "unknown"
	}
	if len(helo) > maxHeloLen {
		helo = helo[:maxHeloLen]
	}
	return strings.Map(func(r rune) rune {
		if r < 33 || r > 126 || r == '(' || r == ')' || r == '\\' || r == ';' {
			return '?'
		}
		return r
	}, helo)
}
