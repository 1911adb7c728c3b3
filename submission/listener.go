package submission

import (
	"net"
	"sync"
)

// trackingListener registers every accepted connection with the Server, so
// that Shutdown can wait for them and, once its context ends, close them:
// go-smtp's own Close does nothing after its Shutdown has started.
type trackingListener struct {
	net.Listener
	s *Server
}

// Accept implements net.Listener.
func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, s: l.s}
	if !l.s.addConn(tc) {
		c.Close()
		return nil, net.ErrClosed
	}
	return tc, nil
}

// trackedConn leaves the Server's set when it is closed.
type trackedConn struct {
	net.Conn
	s    *Server
	once sync.Once
	err  error
}

// Close implements net.Conn; only the first call closes.
func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.err = c.Conn.Close()
		c.s.removeConn(c)
	})
	return c.err
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

func (s *Server) addConn(c *trackedConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) removeConn(c *trackedConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	s.maybeDrainedLocked()
}

// maybeDrainedLocked signals Shutdown once no connection is left.
func (s *Server) maybeDrainedLocked() {
	if s.closed && len(s.conns) == 0 {
		s.drainOnce.Do(func() { close(s.drained) })
	}
}
