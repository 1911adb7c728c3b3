package submission

import "github.com/mxout/mxout/metrics"

// admission is admit's decision on a new connection. The counts behind
// the caps live in the Server, guarded by its mu.
type admission int

const (
	admitted admission = iota
	serverClosed
	overLimit
	overPreAuthLimit
)

// admit registers c unless the server is closed or c is over a
// connection cap. Trusted networks are exempt from the per-IP cap and
// from the cap on clients that have not authenticated, which every new
// untrusted connection is.
func (s *Server) admit(c *trackedConn) admission {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return serverClosed
	case len(s.conns) >= s.cfg.MaxConnections:
		return overLimit
	case !c.trusted && s.connsPerIP[clientKey(c.ip)] >= s.cfg.MaxConnectionsPerIP:
		return overLimit
	case !c.trusted && s.preAuth >= s.preAuthCap():
		return overPreAuthLimit
	}
	s.conns[c] = struct{}{}
	if !c.trusted {
		s.connsPerIP[clientKey(c.ip)]++
		s.preAuth++
		c.preAuth = true
	}
	s.m.SessionsActive.WithLabelValues(metrics.SideSubmission).Inc()
	return admitted
}

// preAuthCap is how many connections untrusted clients that have not
// authenticated may hold: 80% of MaxConnections, at least one. The rest
// stay free for trusted and authenticated clients, so strangers holding
// idle connections cannot lock them out.
func (s *Server) preAuthCap() int {
	return max(1, s.cfg.MaxConnections*8/10)
}

// leavePreAuth gives c's slot among the connections of clients that have
// not authenticated back, once.
func (s *Server) leavePreAuth(c *trackedConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.preAuth {
		c.preAuth = false
		s.preAuth--
	}
}

func (s *Server) removeConn(c *trackedConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.conns[c]; !ok {
		return
	}
	delete(s.conns, c)
	if key := clientKey(c.ip); !c.trusted {
		if s.connsPerIP[key]--; s.connsPerIP[key] <= 0 {
			delete(s.connsPerIP, key)
		}
	}
	if c.preAuth {
		c.preAuth = false
		s.preAuth--
	}
	s.m.SessionsActive.WithLabelValues(metrics.SideSubmission).Dec()
	s.maybeDrainedLocked()
}

// maybeDrainedLocked signals Shutdown once no connection is left.
func (s *Server) maybeDrainedLocked() {
	if s.closed && len(s.conns) == 0 {
		s.drainOnce.Do(func() { close(s.drained) })
	}
}
