package delivery

import (
	"bytes"
	"io"
)

// dotStuffer dot-stuffs message data for DATA as net/textproto's
// DotWriter does (which go-smtp's client uses), byte for byte: a '.' that
// starts a line is doubled, and a bare '\n' becomes "\r\n". It works on
// runs between line ends instead of one byte at a time, which is most of
// the cost of sending a large message through DotWriter.
type dotStuffer struct {
	state dotState
}

type dotState int

// The states of textproto's dotWriter.
const (
	dotBegin     dotState = iota // nothing written yet
	dotBeginLine                 // at the start of a line
	dotCR                        // just wrote a '\r'
	dotData                      // in the middle of a line
)

// appendStuffed appends b, stuffed, to dst.
func (d *dotStuffer) appendStuffed(dst, b []byte) []byte {
	for len(b) > 0 {
		switch d.state {
		case dotBegin, dotBeginLine:
			d.state = dotData
			if b[0] == '.' {
				dst = append(dst, '.')
			}
		case dotCR:
			d.state = dotData
			if b[0] == '\n' {
				d.state = dotBeginLine
			}
			dst = append(dst, b[0])
			b = b[1:]
			continue
		}
		// In a line: copy up to the next '\r' or '\n'.
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			i = len(b)
		}
		if j := bytes.IndexByte(b[:i], '\r'); j >= 0 {
			i = j
		}
		dst = append(dst, b[:i]...)
		if i == len(b) {
			return dst
		}
		if b[i] == '\r' {
			d.state = dotCR
		} else {
			dst = append(dst, '\r')
			d.state = dotBeginLine
		}
		dst = append(dst, b[i])
		b = b[i+1:]
	}
	return dst
}

// terminator is what DotWriter's Close writes after the data so far: the
// end of the last line if it is open, then ".\r\n".
func (d *dotStuffer) terminator() []byte {
	switch d.state {
	case dotBeginLine:
		return []byte(".\r\n")
	case dotCR:
		return []byte("\n.\r\n")
	default:
		return []byte("\r\n.\r\n")
	}
}

// dataEnd is what the data command's Close writes when nothing went
// through it: DotWriter's terminator from its initial state.
const dataEnd = "\r\n.\r\n"

// writeStuffed writes body dot-stuffed to w in blocks of at most
// bodyBlock input bytes, calling before ahead of each write, and leaves
// off exactly the last bytes that, followed by dataEnd, end the data as
// DotWriter would have: so the data command's Close completes it.
func writeStuffed(w io.Writer, body []byte, before func()) error {
	var d dotStuffer
	var buf []byte
	var carry []byte // the last output bytes, held back until the end
	for len(body) > 0 {
		n := min(len(body), bodyBlock)
		buf = d.appendStuffed(append(buf[:0], carry...), body[:n])
		body = body[n:]
		keep := min(len(buf), 2)
		carry = append(carry[:0], buf[len(buf)-keep:]...)
		if out := buf[:len(buf)-keep]; len(out) > 0 {
			before()
			if _, err := w.Write(out); err != nil {
				return err
			}
		}
	}
	// DotWriter would end with terminator(); dataEnd is its last 5 bytes
	// together with the held-back ones that belong to it.
	held := len(dataEnd) - len(d.terminator())
	if out := carry[:len(carry)-held]; len(out) > 0 {
		before()
		if _, err := w.Write(out); err != nil {
			return err
		}
	}
	return nil
}
