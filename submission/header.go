package submission

import (
	"bytes"
	"strings"
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

// scanHeader reads the header section of msg (see eachField).
func scanHeader(msg []byte) headerInfo {
	var h headerInfo
	h.HasHeader = eachField(msg, func(name string, _ []byte) {
		switch {
		case strings.EqualFold(name, "Message-ID"):
			h.HasMessageID = true
		case strings.EqualFold(name, "Date"):
			h.HasDate = true
		}
	})
	return h
}

// eachField calls fn with the name and the raw value (from after the
// colon to the end of the field, folded lines included) of every field in
// the header section of msg, and reports whether msg has a header section
// at all. The section is the lines up to the first empty line, or up to
// the first line that is neither a header field nor its continuation (a
// malformed header ends the section, as most readers treat it). Lines end
// in LF with an optional CR before it.
func eachField(msg []byte, fn func(name string, value []byte)) bool {
	hasHeader := false
	var name string
	var value []byte // of the field being read; nil before the first
	flush := func() {
		if value != nil {
			fn(name, value)
		}
		value = nil
	}
	for first := true; len(msg) > 0; first = false {
		line, rest := msg, []byte(nil)
		if i := bytes.IndexByte(msg, '\n'); i >= 0 {
			line, rest = msg[:i+1], msg[i+1:]
		}
		content := bytes.TrimSuffix(bytes.TrimSuffix(line, []byte{'\n'}), []byte{'\r'})
		switch {
		case len(content) == 0:
			// The separator: an empty header section still is one.
			flush()
			return true
		case content[0] == ' ' || content[0] == '\t':
			if first {
				return false
			}
			value = append(value, line...) // folded continuation
		default:
			n, ok := fieldName(content)
			if !ok {
				flush()
				return hasHeader
			}
			flush()
			hasHeader = true
			name = n
			colon := bytes.IndexByte(line, ':')
			value = append(make([]byte, 0, len(line)-colon), line[colon+1:]...)
		}
		msg = rest
	}
	flush()
	return hasHeader
}

// unfold removes the line breaks of a folded field value (RFC 5322 2.2.3)
// and the surrounding white space.
func unfold(value []byte) string {
	v := bytes.ReplaceAll(value, []byte{'\r'}, nil)
	v = bytes.ReplaceAll(v, []byte{'\n'}, nil)
	return string(bytes.TrimSpace(v))
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
