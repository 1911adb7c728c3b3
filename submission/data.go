package submission

import (
	"bytes"
	"errors"
	"io"
)

// Errors of crlfReader.
var (
	// errBareLineEnding reports a LF not preceded by CR, or a CR not
	// followed by LF, in message data.
	errBareLineEnding = errors.New("bare LF or CR in message data")
	// errLineTooLong reports a message line longer than the limit. go-smtp
	// checks DATA lines itself, but not BDAT chunks.
	errLineTooLong = errors.New("message line too long")
)

// crlfReader passes message data through unchanged and fails with
// errBareLineEnding at the first bare LF or bare CR (RFC 5321 2.3.8). A next
// hop that treats a lone LF as a line end would otherwise read
// "<LF>.<CR><LF>" as the end of data and take what follows as a second,
// smuggled message. The check holds across Read boundaries: a CR at the
// end of one read is judged by the first byte of the next. It serves DATA
// and BDAT alike, since go-smtp hands both to Session.Data.
type crlfReader struct {
	r       io.Reader
	maxLine int  // longest line, CRLF included; 0 is no limit
	lineLen int  // bytes of the current line so far
	lastCR  bool // the previous byte was CR
	err     error
}

func newCRLFReader(r io.Reader, maxLine int) *crlfReader {
	return &crlfReader{r: r, maxLine: maxLine}
}

// Read implements io.Reader. Once a bare line ending or an overlong line
// is seen, every later Read returns that error.
func (c *crlfReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.r.Read(p)
	if c.err = c.check(p[:n]); c.err != nil {
		return 0, c.err
	}
	if errors.Is(err, io.EOF) && c.lastCR {
		c.err = errBareLineEnding
		return 0, c.err
	}
	return n, err
}

// check looks at b a line at a time (bytes.IndexByte finds the line
// ends, which is most of the cost for a large message): every LF must
// follow a CR, every CR must be followed by LF (a CR at the end of b is
// judged by the next read), and no line may be longer than maxLine.
func (c *crlfReader) check(b []byte) error {
	for len(b) > 0 {
		if c.lastCR && b[0] != '\n' {
			return errBareLineEnding
		}
		line, ended := b, false
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, ended = b[:i+1], true
		}
		b = b[len(line):]
		if c.lineLen += len(line); c.maxLine > 0 && c.lineLen > c.maxLine {
			return errLineTooLong
		}
		// text is the line without its CRLF, or without a CR at its end
		// that the next byte judges.
		text := line
		if ended {
			text = text[:len(text)-1]
			switch {
			case len(text) > 0 && text[len(text)-1] == '\r':
				text = text[:len(text)-1]
			case len(text) > 0 || !c.lastCR:
				return errBareLineEnding
			}
			c.lastCR, c.lineLen = false, 0
		} else if c.lastCR = text[len(text)-1] == '\r'; c.lastCR {
			text = text[:len(text)-1]
		}
		if bytes.IndexByte(text, '\r') >= 0 {
			return errBareLineEnding
		}
	}
	return nil
}
