package submission

import (
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
	for _, b := range p[:n] {
		if c.lastCR != (b == '\n') {
			// CR then not-LF, or LF without CR before it.
			c.err = errBareLineEnding
			return 0, c.err
		}
		c.lastCR = b == '\r'
		c.lineLen++
		if c.maxLine > 0 && c.lineLen > c.maxLine {
			c.err = errLineTooLong
			return 0, c.err
		}
		if b == '\n' {
			c.lineLen = 0
		}
	}
	if errors.Is(err, io.EOF) && c.lastCR {
		c.err = errBareLineEnding
		return 0, c.err
	}
	return n, err
}
