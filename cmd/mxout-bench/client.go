package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strings"
	"time"
)

// ioTimeout bounds every exchange with the relay: a relay that stalls makes
// the message fail instead of hanging the benchmark.
const ioTimeout = 2 * time.Minute

// client is one SMTP connection to the relay under test. It keeps the
// connection for every message it sends (connection reuse) and pipelines
// each envelope as RFC 2920 allows: MAIL, every RCPT and DATA go out in one
// write, and their replies are read together. go-smtp's client waits for
// each reply in turn, which would measure round trips instead of the relay.
type client struct {
	conn net.Conn
	r    *textproto.Reader
	w    *bufio.Writer
}

// errTransaction is a refusal by the relay; the connection is still good.
var errTransaction = errors.New("refused")

// dial connects, reads the greeting and says EHLO; the relay must offer
// PIPELINING.
func dial(addr string) (*client, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	c := &client{conn: conn, r: textproto.NewReader(bufio.NewReaderSize(conn, 4<<10)), w: bufio.NewWriterSize(conn, 64<<10)}
	_ = conn.SetDeadline(time.Now().Add(ioTimeout))
	if _, _, err := c.r.ReadResponse(220); err != nil {
		conn.Close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	c.w.WriteString("EHLO client.bench.invalid\r\n")
	if err := c.w.Flush(); err != nil {
		conn.Close()
		return nil, err
	}
	_, ext, err := c.r.ReadResponse(250)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("EHLO: %w", err)
	}
	if !strings.Contains(strings.ToUpper(ext), "\nPIPELINING") {
		conn.Close()
		return nil, fmt.Errorf("the relay at %s does not offer PIPELINING", addr)
	}
	return c, nil
}

// abort drops a broken connection.
func (c *client) abort() { c.conn.Close() }

// Close ends the session politely.
func (c *client) Close() {
	_ = c.conn.SetDeadline(time.Now().Add(time.Second))
	c.w.WriteString("QUIT\r\n")
	_ = c.w.Flush()
	c.conn.Close()
}

// send runs one transaction and returns the accept latency: from the final
// dot leaving the client to the 250 coming back. An error wrapping
// errTransaction means the relay refused the message and the session can
// go on; any other error means the connection is unusable.
func (c *client) send(from string, to []string, header, body []byte) (time.Duration, error) {
	_ = c.conn.SetDeadline(time.Now().Add(ioTimeout))
	c.w.WriteString("MAIL FROM:<" + from + ">\r\n")
	for _, rcpt := range to {
		c.w.WriteString("RCPT TO:<" + rcpt + ">\r\n")
	}
	c.w.WriteString("DATA\r\n")
	if err := c.w.Flush(); err != nil {
		return 0, err
	}
	// Every reply must be read to stay in step with the server, even
	// after a refusal.
	var refused error
	for i := 0; i <= len(to); i++ {
		if _, msg, err := c.r.ReadResponse(2); err != nil {
			if !isReply(err) {
				return 0, err
			}
			refused = firstErr(refused, fmt.Errorf("%w: %s", errTransaction, firstLine(err, msg)))
		}
	}
	if _, msg, err := c.r.ReadResponse(354); err != nil {
		if !isReply(err) {
			return 0, err
		}
		return 0, firstErr(refused, fmt.Errorf("%w: DATA: %s", errTransaction, firstLine(err, msg)))
	}
	if refused != nil {
		// DATA was accepted anyway (some recipients were refused): end it
		// empty and count the message as refused.
		c.w.WriteString(".\r\n")
		if err := c.w.Flush(); err != nil {
			return 0, err
		}
		if _, _, err := c.r.ReadResponse(0); err != nil && !isReply(err) {
			return 0, err
		}
		return 0, refused
	}
	c.w.Write(header)
	c.w.Write(body)
	c.w.WriteString(".\r\n")
	if err := c.w.Flush(); err != nil {
		return 0, err
	}
	start := time.Now()
	_, msg, err := c.r.ReadResponse(250)
	took := time.Since(start)
	if err != nil {
		if !isReply(err) {
			return 0, err
		}
		return 0, fmt.Errorf("%w: end of DATA: %s", errTransaction, firstLine(err, msg))
	}
	return took, nil
}

// isReply reports whether err is a reply with an unexpected code (a
// *textproto.Error), as opposed to a broken connection. A 421 closes the
// session, so it counts as broken.
func isReply(err error) bool {
	var te *textproto.Error
	return errors.As(err, &te) && te.Code != 421
}

func firstLine(err error, msg string) string {
	var te *textproto.Error
	if errors.As(err, &te) {
		msg, _, _ = strings.Cut(te.Msg, "\n")
		return fmt.Sprintf("%d %s", te.Code, msg)
	}
	return msg
}

// firstErr keeps the first error.
func firstErr(first, next error) error {
	if first != nil {
		return first
	}
	return next
}
