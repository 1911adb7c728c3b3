// Package header reads the header section of a message (RFC 5322 §2.2):
// where it ends, and its fields as raw bytes, folded lines included. Every
// part of mxout that looks into a message's header reads it here, so that
// all of them agree on where it ends and which lines are fields.
//
// The rules:
//   - Lines end in LF, with an optional CR before it (stored mail has
//     CRLF; a bare LF is tolerated so that no reading goes wrong). A last
//     line without an LF is a line too.
//   - The header section is the lines before the first empty line (the
//     separator, which belongs to neither header nor body); without one,
//     the whole message is header, as DKIM verifiers read it.
//   - A field starts with a line "name:" (a name of printable ASCII but the
//     colon, white space allowed before the colon, RFC 5322 §4.5) and goes
//     on over the continuation lines that start with a space or a tab.
//   - The fields end at the first line in the section that is neither a
//     field nor a continuation (a malformed header ends the fields, as
//     most readers treat it); a message whose first line is a
//     continuation has no fields.
package header

import (
	"bytes"
	"iter"
	"strings"
)

// Field is one header field.
type Field struct {
	// Name is as written, without white space before the colon; compare
	// it with strings.EqualFold.
	Name string
	// Value is raw: from after the colon to the end of the field, with the
	// line ends of its folded lines and of its last line. It is a slice of
	// the message, not a copy.
	Value []byte
}

// Is reports whether the field is called name, in any case.
func (f Field) Is(name string) bool { return strings.EqualFold(f.Name, name) }

// Split returns the header section of msg (its lines with their line
// ends, not the empty line after them) and the body after the empty line;
// separated is false when msg has no empty line, and then header is all
// of msg.
func Split(msg []byte) (header, body []byte, separated bool) {
	for off := 0; off < len(msg); {
		line, next := lineAt(msg, off)
		if isEmpty(line) {
			return msg[:off], msg[next:], true
		}
		off = next
	}
	return msg, nil, false
}

// Fields iterates the fields of msg's header section in order (see the
// package rules for where they end).
func Fields(msg []byte) iter.Seq[Field] {
	return func(yield func(Field) bool) {
		var name string
		start := -1 // where the value of the field being read starts
		for off := 0; off < len(msg); {
			line, next := lineAt(msg, off)
			content := trimEOL(line)
			if len(content) > 0 && (content[0] == ' ' || content[0] == '\t') {
				if start < 0 {
					return // a continuation of nothing
				}
				off = next // the value goes on
				continue
			}
			if start >= 0 && !yield(Field{Name: name, Value: msg[start:off]}) {
				return
			}
			n, ok := fieldName(content)
			if !ok { // the empty line, or a malformed one
				return
			}
			name, start = n, off+bytes.IndexByte(line, ':')+1
			off = next
		}
		if start >= 0 {
			yield(Field{Name: name, Value: msg[start:]})
		}
	}
}

// HasSection reports whether msg starts with a header section: with a
// field, or with the empty line of an empty one. A message that starts
// with anything else is all body.
func HasSection(msg []byte) bool {
	if line, _ := lineAt(msg, 0); isEmpty(line) {
		return true
	}
	for range Fields(msg) {
		return true
	}
	return false
}

// Unfold returns a raw field value on one line: its line breaks removed
// (RFC 5322 §2.2.3) and the white space around it trimmed.
func Unfold(value []byte) string {
	v := bytes.ReplaceAll(value, []byte{'\r'}, nil)
	v = bytes.ReplaceAll(v, []byte{'\n'}, nil)
	return string(bytes.TrimSpace(v))
}

// IsFieldName reports whether s is a field name: one or more printable
// ASCII characters but the colon (RFC 5322 §2.2).
func IsFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 33 || c > 126 || c == ':' {
			return false
		}
	}
	return true
}

// lineAt returns the line starting at off, with its line end, and the
// offset of the next line.
func lineAt(msg []byte, off int) (line []byte, next int) {
	if i := bytes.IndexByte(msg[off:], '\n'); i >= 0 {
		return msg[off : off+i+1], off + i + 1
	}
	return msg[off:], len(msg)
}

// trimEOL removes a line's end: the LF and a CR before it. A last line
// without an LF keeps a CR at its end.
func trimEOL(line []byte) []byte {
	if l, ok := bytes.CutSuffix(line, []byte{'\n'}); ok {
		return bytes.TrimSuffix(l, []byte{'\r'})
	}
	return line
}

// isEmpty reports whether line is an empty line: a line end alone.
func isEmpty(line []byte) bool {
	return len(line) > 0 && line[len(line)-1] == '\n' && len(trimEOL(line)) == 0
}

// fieldName returns the name of a field's first line, allowing the
// obsolete white space before the colon (RFC 5322 §4.5).
func fieldName(content []byte) (string, bool) {
	colon := bytes.IndexByte(content, ':')
	if colon < 0 {
		return "", false
	}
	name := string(bytes.TrimRight(content[:colon], " \t"))
	return name, IsFieldName(name)
}

// Count returns how many fields of msg's header section are called name,
// in any case. A folded field counts once, even when a continuation line
// reads "name:".
func Count(msg []byte, name string) int {
	n := 0
	for f := range Fields(msg) {
		if f.Is(name) {
			n++
		}
	}
	return n
}

// First returns the raw value of the first field called name, in any
// case; ok is false when there is none.
func First(msg []byte, name string) (value []byte, ok bool) {
	for f := range Fields(msg) {
		if f.Is(name) {
			return f.Value, true
		}
	}
	return nil, false
}
