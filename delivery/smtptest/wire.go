package smtptest

import (
	"bytes"
	"slices"
	"time"
)

// The server's side of the wire. go-smtp writes every reply line at once
// and advertises PIPELINING and 8BITMIME always; these options edit what
// it writes, hold its replies back, and record what clients send.

// Replies as go-smtp writes them, which Write edits.
var (
	eightBitMIMELine = []byte("250-8BITMIME\r\n")
	pipeliningLine   = []byte("250-PIPELINING\r\n")
	// noRecipientsReply is go-smtp's refusal of a DATA before any RCPT
	// was accepted; dataGoAhead replaces it for DataWithoutRecipients.
	noRecipientsReply = []byte("502 5.5.1 Missing RCPT TO command.\r\n")
	dataGoAhead       = []byte("354 Go ahead, though no recipient was accepted (smtptest)\r\n")
)

// Write writes b as the options say: without the lines they leave out,
// held back until the next read with CoalesceReplies, one octet at a time
// if the connection drips.
func (c *conn) Write(b []byte) (int, error) {
	opts := c.l.s.opts
	out := b
	if opts.No8BitMIME {
		out = bytes.ReplaceAll(out, eightBitMIMELine, nil)
	}
	if opts.NoPipelining {
		out = bytes.ReplaceAll(out, pipeliningLine, nil)
	}
	if opts.DataWithoutRecipients {
		out = bytes.ReplaceAll(out, noRecipientsReply, dataGoAhead)
	}
	c.mu.Lock()
	if c.coalesce {
		c.held = append(c.held, out...)
		c.mu.Unlock()
		return len(b), nil
	}
	c.mu.Unlock()
	if _, err := c.write(out); err != nil {
		return 0, err
	}
	return len(b), nil
}

// write sends b, dripping it if the connection drips.
func (c *conn) write(b []byte) (int, error) {
	if pause := time.Duration(c.drip.Load()); pause > 0 {
		return c.dripWrite(b, pause)
	}
	return c.Conn.Write(b)
}

// Read sends the replies held back first: the server reads on only once
// the commands it had are answered. It records what it read.
func (c *conn) Read(p []byte) (int, error) {
	if err := c.flush(); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(p)
	if n > 0 && c.reads != nil {
		c.l.s.recordRead(c.reads, p[:n])
	}
	return n, err
}

// flush sends the replies held back.
func (c *conn) flush() error {
	c.mu.Lock()
	held := c.held
	c.held = nil
	c.mu.Unlock()
	if len(held) == 0 {
		return nil
	}
	_, err := c.write(held)
	return err
}

// stopCoalescing sends what is held back and writes at once from now on:
// a hostile reply is written as it is made.
func (c *conn) stopCoalescing() {
	c.mu.Lock()
	c.coalesce = false
	c.mu.Unlock()
	_ = c.flush()
}

// Close sends the replies held back (a 421 before hanging up), closes the
// socket and leaves the open set.
func (c *conn) Close() error {
	_ = c.flush()
	err := c.Conn.Close()
	c.once.Do(func() { c.l.untrack(c) })
	return err
}

// readLog is what the reads of one connection returned.
type readLog struct{ reads []string }

func (s *Server) newReadLog() *readLog {
	log := &readLog{}
	s.recMu.Lock()
	s.reads = append(s.reads, log)
	s.recMu.Unlock()
	return log
}

func (s *Server) recordRead(log *readLog, b []byte) {
	s.recMu.Lock()
	log.reads = append(log.reads, string(b))
	s.recMu.Unlock()
}

// Reads returns, with Options.RecordReads, what the server's reads from
// clients returned: per connection, in the order they were accepted,
// the octets of each read. Commands that a client sends in one write
// arrive in one read (on loopback, as long as they fit go-smtp's 4 KiB
// buffer); commands sent one at a time, each after the reply to the one
// before, arrive in reads of their own. Reset empties the lists.
func (s *Server) Reads() [][]string {
	s.recMu.Lock()
	defer s.recMu.Unlock()
	out := make([][]string, len(s.reads))
	for i, log := range s.reads {
		out[i] = slices.Clone(log.reads)
	}
	return out
}
