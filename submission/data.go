package submission

import (
	"errors"
	"io"
)

// errBareLineEnding reports a LF not preceded by CR, or a CR not followed
// by LF, in message data.
var errBareLineEnding = errors.New("bare LF or CR in message data")

// crlfReader passes message data through unchanged and fails with
// errBareLineEnding at the first bare LF or bare CR (RFC 5321 2.3.8). A next
// hop that treats a lone LF as a line end would otherwise read
// "<LF>.<CR><LF>" as the end of data and take what follows as a second,
// smuggled message. The check holds across Read boundaries: a CR at the
// end of one read is judged by the first byte of the next.
type crlfReader struct {
	r      io.Reader
	lastCR bool // the previous byte was CR
	err    error
}

func newCRLFReader(r io.Reader) *crlfReader { return &crlfReader{r: r} }

// Read implements io.Reader. Once a bare line ending is seen, every later
// Read returns errBareLineEnding.
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
	}
	if errors.Is(err, io.EOF) && c.lastCR {
		c.err = errBareLineEnding
		return 0, c.err
	}
	return n, err
}
