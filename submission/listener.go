package submission

import (
	"crypto/tls"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"
)

// refuseWriteTimeout bounds the 421 written to a connection over a limit,
// so that a client that does not read cannot stall the accept loop.
const refuseWriteTimeout = time.Second

// trackingListener admits connections under the connection caps and
// registers each with the Server, so that Shutdown can wait for them and,
// once its context ends, close them: go-smtp's own Close does nothing
// after its Shutdown has started.
type trackingListener struct {
	net.Listener
	s *Server
	// implicitTLS: the client speaks TLS first, so a plaintext 421 would
	// be garbage to it; a connection over a cap is just closed.
	implicitTLS bool
}

// Accept implements net.Listener. Connections over a cap are answered
// 421 4.7.0 and closed here; go-smtp never sees them.
func (l *trackingListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		tc := newTrackedConn(c, l.s)
		switch l.s.admit(tc) {
		case admitted:
			return tc, nil
		case serverClosed:
			c.Close()
			return nil, net.ErrClosed
		case overLimit:
			l.refuse(tc, "connection refused: too many connections")
		case overPreAuthLimit:
			l.refuse(tc, "connection refused: too many connections of clients that have not authenticated")
		}
	}
}

func (l *trackingListener) refuse(tc *trackedConn, why string) {
	l.s.m.MessagesRejected.WithLabelValues(ReasonConnectionLimit).Inc()
	l.s.log.Debug(why, "client", tc.ip)
	if !l.implicitTLS {
		tc.Conn.SetWriteDeadline(time.Now().Add(refuseWriteTimeout))
		io.WriteString(tc.Conn, "421 4.7.0 "+l.s.cfg.Hostname+" Too many connections, try again later\r\n")
	}
	tc.Conn.Close()
}

// trackedConn is one client connection as go-smtp and crypto/tls see it.
// It clamps every read deadline to the end of the session and, during a
// message transfer, to the end of the DATA deadline: go-smtp sets
// ReadTimeout afresh for every command line, so without the clamp a
// client sending a line every few minutes could hold the connection
// forever. Once a read has timed out, every later read times out at once:
// bufio hands go-smtp the part of a line read before the deadline as if
// it were whole, and the client must not get another full ReadTimeout
// after that. An untrusted client's reads are also clamped to its
// pre-auth deadline until it authenticates. It also carries the
// per-connection counters that must survive STARTTLS (go-smtp starts a
// new Session after it).
type trackedConn struct {
	net.Conn
	s       *Server
	ip      netip.Addr
	trusted bool
	once    sync.Once
	err     error

	// preAuth: the connection holds one of the slots of untrusted
	// clients that have not authenticated (Server.preAuth). Guarded by
	// the Server's mu.
	preAuth bool

	mu         sync.Mutex
	sessionEnd time.Time
	dataEnd    time.Time // zero outside a message transfer
	preAuthEnd time.Time // zero for trusted clients and once authenticated
	preAuthOut bool      // the pre-auth deadline has passed (counted once)
	timedOut   bool      // a read has timed out
	hangup     hangupState
	errors     int  // refused commands (see session.refuse)
	authFails  int  // failed AUTH attempts
	busy       bool // inside a mail transaction (MAIL accepted, not yet reset)
	draining   bool // the server is shutting down: end the session when idle
}

// hangupState is how far a requested hang-up has come.
type hangupState int

const (
	hangupNone      hangupState = iota
	hangupRequested             // waiting for the reply to be written
	hangupArmed                 // the reply is out; the next Read closes
)

func newTrackedConn(c net.Conn, s *Server) *trackedConn {
	ip := remoteIP(c.RemoteAddr())
	// Deadlines are wall-clock times for the kernel, not Config.Now.
	now := time.Now()
	tc := &trackedConn{Conn: c, s: s, ip: ip, trusted: s.trusted(ip), sessionEnd: now.Add(s.cfg.SessionTimeout)}
	if !tc.trusted {
		tc.preAuthEnd = now.Add(s.cfg.PreAuthTimeout)
	}
	return tc
}

// connOf finds the trackedConn under what go-smtp holds (the connection
// itself, or a *tls.Conn over it); nil if there is none.
func connOf(c net.Conn) *trackedConn {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	tc, _ := c.(*trackedConn)
	return tc
}

// Read implements net.Conn. Once a hang-up is armed it closes the
// connection and reports EOF, which go-smtp takes as the client having
// left: the refusal written just before stays the last word.
func (c *trackedConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	hangup := c.hangup
	c.mu.Unlock()
	if hangup == hangupArmed {
		c.Conn.Close()
		return 0, io.EOF
	}
	n, err := c.Conn.Read(p)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		c.mu.Lock()
		c.timedOut = true
		inData := !c.dataEnd.IsZero()
		if inData && c.hangup == hangupNone {
			c.hangup = hangupRequested
		}
		// go-smtp answers the timeout with 421 4.4.2 and closes.
		preAuthOut := !c.preAuthOut && !c.preAuthEnd.IsZero() && !time.Now().Before(c.preAuthEnd)
		c.preAuthOut = c.preAuthOut || preAuthOut
		c.mu.Unlock()
		if preAuthOut {
			c.s.m.MessagesRejected.WithLabelValues(ReasonPreAuthTimeout).Inc()
			c.s.log.Info("no AUTH within the pre-auth timeout, closing connection", "client", c.ip, "timeout", c.s.cfg.PreAuthTimeout)
		}
		if inData {
			// go-smtp writes a read error met inside a BDAT chunk to the
			// client as it is, and anything but an *smtp.SMTPError as a
			// permanent 554 with the error text: a slow link would make
			// the client bounce its message.
			return n, replyDataTimeout()
		}
	}
	return n, err
}

// Write implements net.Conn; it arms a requested hang-up.
func (c *trackedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.mu.Lock()
	if c.hangup == hangupRequested {
		c.hangup = hangupArmed
	}
	c.mu.Unlock()
	return n, err
}

// SetReadDeadline implements net.Conn, clamped as the type doc says.
func (c *trackedConn) SetReadDeadline(t time.Time) error {
	return c.Conn.SetReadDeadline(c.clamp(t))
}

// SetDeadline implements net.Conn; the read half is clamped.
func (c *trackedConn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.SetReadDeadline(t)
}

func (c *trackedConn) clamp(t time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.timedOut || (c.draining && !c.busy) {
		return time.Unix(1, 0) // long past
	}
	for _, end := range []time.Time{c.sessionEnd, c.dataEnd, c.preAuthEnd} {
		if !end.IsZero() && (t.IsZero() || end.Before(t)) {
			t = end
		}
	}
	return t
}

// startData starts the DATA deadline and applies it at once: go-smtp
// does not set a new deadline while it reads message data.
func (c *trackedConn) startData(d time.Duration) {
	c.mu.Lock()
	c.dataEnd = time.Now().Add(d)
	c.mu.Unlock()
	c.SetReadDeadline(time.Time{})
}

// endData lifts the DATA deadline after a transfer.
func (c *trackedConn) endData() {
	c.mu.Lock()
	c.dataEnd = time.Time{}
	c.mu.Unlock()
}

// hangUp closes the connection once the reply go-smtp is about to write
// has gone out: at the first Read after the next Write. (After a refused
// DATA, go-smtp reads the rest of the data before it replies; those reads
// must still work.)
func (c *trackedConn) hangUp() {
	c.mu.Lock()
	if c.hangup == hangupNone {
		c.hangup = hangupRequested
	}
	c.mu.Unlock()
}

// setBusy records whether a mail transaction is open. A draining
// connection that goes idle is ended at its next read.
func (c *trackedConn) setBusy(busy bool) {
	c.mu.Lock()
	c.busy = busy
	c.mu.Unlock()
}

// drain ends the session as soon as it is idle: an idle connection's
// pending read times out now, so go-smtp answers 421 and closes; a
// connection inside a transaction finishes it first (see setBusy, clamp).
func (c *trackedConn) drain() {
	c.mu.Lock()
	c.draining = true
	idle := !c.busy
	c.mu.Unlock()
	if idle {
		c.Conn.SetReadDeadline(time.Unix(1, 0))
	}
}

// authenticated lifts the pre-auth deadline from the next read on, and
// gives the connection's pre-auth slot back.
func (c *trackedConn) authenticated() {
	c.mu.Lock()
	c.preAuthEnd = time.Time{}
	c.mu.Unlock()
	c.s.leavePreAuth(c)
}

// addError counts a refused command and returns the new count.
func (c *trackedConn) addError() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errors++
	return c.errors
}

// addAuthFailure counts a failed AUTH and returns the new count.
func (c *trackedConn) addAuthFailure() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.authFails++
	return c.authFails
}

// authFailures is the number of failed AUTH attempts so far.
func (c *trackedConn) authFailures() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.authFails
}

// Close implements net.Conn; only the first call closes.
func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.err = c.Conn.Close()
		c.s.removeConn(c)
	})
	return c.err
}

// remoteIP is the client's address, IPv4-mapped IPv6 unmapped so that it
// matches IPv4 trusted networks; the zero Addr if it is not IP.
func remoteIP(a net.Addr) netip.Addr {
	if a == nil {
		return netip.Addr{}
	}
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

func (s *Server) addListener(l net.Listener) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.listeners[l] = struct{}{}
	return true
}

func (s *Server) removeListener(l net.Listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.listeners, l)
}
