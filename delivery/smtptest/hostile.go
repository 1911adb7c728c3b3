package smtptest

import (
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"time"
)

// Misbehaviour is what an adversarial server sends instead of a proper
// reply, to test that a client bounds what it reads and how long it waits.
type Misbehaviour int

const (
	// GiantLine sends the reply code and a space, then octets without a
	// line end, until the client hangs up or Hostile.Limit is reached.
	GiantLine Misbehaviour = iota + 1
	// EndlessReply sends continuation lines ("250-...") that never end,
	// until the client hangs up or Hostile.Limit is reached.
	EndlessReply
	// Drip sends every reply from that point on one octet at a time,
	// Hostile.Interval apart.
	Drip
	// Garbage sends 4 KiB of binary octets that are not SMTP, then hangs
	// up.
	Garbage
	// HangUp closes the connection without a reply, as a server that
	// crashes does.
	HangUp
)

// Stage is the reply that a Hostile script replaces.
type Stage int

const (
	// AtGreeting replaces the 220 greeting.
	AtGreeting Stage = iota + 1
	// AtEHLO replaces the reply to the first EHLO or HELO of a connection.
	AtEHLO
	// AtMail replaces the reply to MAIL FROM.
	AtMail
	// AtRcpt replaces the reply to every RCPT TO.
	AtRcpt
	// AtData replaces the reply to the final dot of DATA.
	AtData
)

// Hostile scripts an adversarial server (SetHostile).
type Hostile struct {
	Stage Stage
	Mode  Misbehaviour
	// Code is the reply code sent; default 220 at the greeting, else 250.
	Code int
	// Limit stops GiantLine and EndlessReply after this many octets, and
	// then the connection is closed; 0 means 1 GiB.
	Limit int64
	// Interval is the pause between two octets of Drip; 0 means 1s.
	Interval time.Duration
}

// SetHostile makes the server misbehave as h says on every connection
// from now on; nil restores normal replies. Except for Drip, a hostile
// reply ends the connection.
func (s *Server) SetHostile(h *Hostile) {
	var c *Hostile
	if h != nil {
		v := *h
		if v.Code == 0 {
			v.Code = 250
			if v.Stage == AtGreeting {
				v.Code = 220
			}
		}
		if v.Limit <= 0 {
			v.Limit = 1 << 30
		}
		if v.Interval <= 0 {
			v.Interval = time.Second
		}
		c = &v
	}
	s.mu.Lock()
	s.hostile = c
	s.mu.Unlock()
}

// HostileSent returns how many octets hostile replies have written since
// start or Reset: with GiantLine or EndlessReply, what the clients took
// before they hung up (plus what socket buffers held).
func (s *Server) HostileSent() int64 { return s.hostileSent.Load() }

// hostileAt returns the script if it replaces the reply at stage.
func (s *Server) hostileAt(stage Stage) *Hostile {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.hostile == nil || s.hostile.Stage != stage {
		return nil
	}
	return s.hostile
}

// misbehave sends h's reply on c (the connection go-smtp writes to, TLS
// included). For Drip it only makes c's socket drip from now on and
// returns false: go-smtp's own replies go out slowly. Otherwise it writes
// the hostile reply, closes c and returns true.
func (s *Server) misbehave(c net.Conn, h *Hostile) (closed bool) {
	raw := rawConn(c)
	if raw != nil {
		raw.stopCoalescing()
	}
	if h.Mode == Drip {
		if raw != nil {
			raw.drip.Store(int64(h.Interval))
		}
		return false
	}
	defer c.Close()
	var chunk []byte
	switch h.Mode {
	case GiantLine:
		if !s.send(c, []byte(fmt.Sprintf("%d ", h.Code))) {
			return true
		}
		chunk = []byte(strings.Repeat("x", 32<<10))
	case EndlessReply:
		chunk = []byte(strings.Repeat(fmt.Sprintf("%d-smtptest endless reply line\r\n", h.Code), 1024))
	case Garbage:
		junk := make([]byte, 4<<10)
		for i := range junk {
			junk[i] = byte(i*7 + 3)
		}
		s.send(c, junk)
		return true
	case HangUp:
		return true
	}
	for sent := int64(0); sent < h.Limit; sent += int64(len(chunk)) {
		if !s.send(c, chunk[:min(int64(len(chunk)), h.Limit-sent)]) {
			break
		}
	}
	return true
}

// send writes b to c under its own deadline, counts it, and reports
// whether the client is still reading.
func (s *Server) send(c net.Conn, b []byte) bool {
	select {
	case <-s.done:
		return false
	default:
	}
	_ = c.SetWriteDeadline(time.Now().Add(ioTimeout))
	n, err := c.Write(b)
	s.hostileSent.Add(int64(n))
	return err == nil
}

// rawConn finds the listener's connection under c, TLS or not.
func rawConn(c net.Conn) *conn {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	raw, _ := c.(*conn)
	return raw
}

// dripWrite writes b one octet at a time, every pause apart, stopping
// early when the server closes.
func (c *conn) dripWrite(b []byte, pause time.Duration) (int, error) {
	for i := range b {
		if i > 0 {
			c.l.s.sleep(pause)
		}
		select {
		case <-c.l.s.done:
			return i, net.ErrClosed
		default:
		}
		_ = c.Conn.SetWriteDeadline(time.Now().Add(ioTimeout))
		if _, err := c.Conn.Write(b[i : i+1]); err != nil {
			return i, err
		}
		c.l.s.hostileSent.Add(1)
	}
	return len(b), nil
}
