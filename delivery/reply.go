package delivery

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/mxout/mxout/internal/mailtext"
)

// Limits on what a remote server may send in one reply. RFC 5321
// §4.5.3.1.5 allows 512 octets per reply line; a peer that sends far more
// is hostile or broken, and every octet read costs memory (net/textproto
// and go-smtp's client keep a whole reply) and, once stored, queue space.
const (
	// maxReplyLine is the longest reply line, CRLF included.
	maxReplyLine = 2000
	// maxReplyLines is the most lines in one (multi-line) reply.
	maxReplyLines = 100
	// maxReplyBytes is the largest reply, all lines and CRLFs included.
	maxReplyBytes = 64 << 10
)

// errReplyTooLong marks the end of a session whose server broke a reply
// limit. Classify makes it a temporary failure (4.5.0): the next attempt
// may find a better-behaved server.
var errReplyTooLong = errors.New("reply too long")

func replyLimitError(format string, a ...any) error {
	return fmt.Errorf("%w: %s; session ended", errReplyTooLong, fmt.Sprintf(format, a...))
}

// replyLimiter is an io.Reader under everything that reads a server's
// replies (the STARTTLS prologue, go-smtp's client, RSET). It follows the
// reply structure and fails every read from the first octet that breaks a
// limit on, so that nothing more is read from that server.
//
// It hands out complete lines only, holding back the start of a line
// until its end has arrived. Otherwise bufio, under textproto, would pass
// the part of a line read before an error (a deadline, a broken limit) up
// as if it were a whole line, and the failure would surface as a
// "short response" or a truncated reply instead of what it was.
//
// And it hands out at most one line per Read, so that a bufio.Reader over
// it (go-smtp's client has one) never holds more than the reply it is
// parsing: when a server's replies arrive together, as they do to
// pipelined commands (pipeline.go), the ones still to come stay here,
// where a reader working around go-smtp (RSET, the replies a pipelined
// transaction did not get to) finds them.
type replyLimiter struct {
	r   io.Reader
	err error // sticky: a broken limit

	buf   []byte // read, not yet handed out: complete lines, then a partial one
	ready int    // the complete lines at the start of buf
	rerr  error  // the underlying reader's error, once buf is drained

	lineLen  int  // octets of the current line so far
	cont     bool // the current line's fourth octet is '-': more lines follow
	lines    int  // complete lines of the current reply
	replyLen int  // octets of the current reply's complete lines

	// onLimit, if set, is called once when a limit is broken.
	onLimit func()
}

func (l *replyLimiter) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for l.ready == 0 {
		if l.err != nil {
			return 0, l.err
		}
		if l.rerr != nil {
			return 0, l.rerr
		}
		l.fill(len(p))
	}
	line := bytes.IndexByte(l.buf[:l.ready], '\n') + 1
	n := copy(p, l.buf[:line])
	l.buf = l.buf[:copy(l.buf, l.buf[n:])]
	l.ready -= n
	return n, nil
}

// fill reads once from the underlying reader and follows what arrived.
func (l *replyLimiter) fill(size int) {
	start, want := len(l.buf), max(size, 512)
	if cap(l.buf)-start < want {
		nb := make([]byte, start, start+want)
		copy(nb, l.buf)
		l.buf = nb
	}
	n, err := l.r.Read(l.buf[start : start+want])
	l.buf = l.buf[:start+n]
	if err != nil {
		l.rerr = err
	}
	for i, c := range l.buf[start:] {
		if lerr := l.scan(c); lerr != nil {
			l.err, l.buf, l.ready = lerr, nil, 0
			if l.onLimit != nil {
				l.onLimit()
			}
			return
		}
		if c == '\n' {
			l.ready = start + i + 1
		}
	}
}

// scan follows the reply structure over one octet and returns an error
// when a limit is broken.
func (l *replyLimiter) scan(c byte) error {
	l.lineLen++
	if l.lineLen == 4 {
		l.cont = c == '-'
	}
	if l.lineLen > maxReplyLine {
		return replyLimitError("a reply line is longer than %d octets", maxReplyLine)
	}
	if l.replyLen+l.lineLen > maxReplyBytes {
		return replyLimitError("a reply is larger than %d octets", maxReplyBytes)
	}
	if c != '\n' {
		return nil
	}
	l.lines++
	l.replyLen += l.lineLen
	if !l.cont {
		l.lines, l.replyLen = 0, 0 // the reply is complete
	} else if l.lines >= maxReplyLines {
		return replyLimitError("a reply has more than %d lines", maxReplyLines)
	}
	l.lineLen, l.cont = 0, false
	return nil
}

// limitedConn is a connection whose reads go through a replyLimiter.
type limitedConn struct {
	net.Conn
	lim *replyLimiter
}

func newLimitedConn(c net.Conn, onLimit func()) *limitedConn {
	return &limitedConn{Conn: c, lim: &replyLimiter{r: c, onLimit: onLimit}}
}

func (c *limitedConn) Read(p []byte) (int, error) { return c.lim.Read(p) }

// maxResponse bounds the reply text (or error description) that is
// stored with a recipient, logged and quoted in a DSN.
const maxResponse = 1024

// cutMark ends a response that clip shortened.
const cutMark = " [cut to 1 KiB]"

// clip cuts s to maxResponse bytes, on a UTF-8 boundary, marking the cut.
func clip(s string) string { return mailtext.Clip(s, maxResponse, cutMark) }

// clipErr is err's text, clipped, for a log line.
func clipErr(err error) string {
	if err == nil {
		return ""
	}
	return clip(fmt.Sprint(err))
}
