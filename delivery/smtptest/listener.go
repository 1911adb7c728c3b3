package smtptest

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// rebindTimeout bounds how long Up retries a port that is briefly busy.
const rebindTimeout = 3 * time.Second

// listener is the net.Listener go-smtp serves on. It survives Down/Up by
// swapping the socket underneath, so go-smtp never sees Accept fail; it
// counts connections, answers scripted greetings itself (go-smtp always
// greets with 220) and tracks open connections so Down can drop them.
type listener struct {
	s    *Server
	addr *net.TCPAddr // fixed: Up binds the same ip:port again

	upMu sync.Mutex // serialises down and up, which bind outside mu

	mu     sync.Mutex
	inner  net.Listener  // nil while down
	isUp   chan struct{} // closed when inner is set again
	conns  map[*conn]struct{}
	closed bool
	done   chan struct{}
}

func newListener(s *Server, inner net.Listener, addr *net.TCPAddr) *listener {
	return &listener{
		s:     s,
		addr:  addr,
		inner: inner,
		isUp:  make(chan struct{}),
		conns: make(map[*conn]struct{}),
		done:  make(chan struct{}),
	}
}

// Accept returns the next connection that go-smtp should serve.
func (l *listener) Accept() (net.Conn, error) {
	for {
		l.mu.Lock()
		closed, inner, isUp := l.closed, l.inner, l.isUp
		l.mu.Unlock()
		if closed {
			return nil, net.ErrClosed
		}
		if inner == nil {
			select {
			case <-isUp:
			case <-l.done:
			}
			continue
		}
		nc, err := inner.Accept()
		if err != nil {
			l.mu.Lock()
			stale := l.closed || l.inner != inner // Down or Close raced us
			l.mu.Unlock()
			if stale {
				continue
			}
			return nil, err
		}
		c := l.track(nc, inner)
		if c == nil {
			continue
		}
		var out net.Conn = c
		if l.s.opts.Implicit {
			out = tls.Server(c, l.s.tlsConf)
		}
		if h := l.s.hostileAt(AtGreeting); h != nil {
			if !l.s.enter() {
				out.Close()
				continue
			}
			if h.Mode == Drip {
				l.s.misbehave(out, h) // go-smtp's greeting drips
				l.s.calls.Done()
				return out, nil
			}
			go func() {
				defer l.s.calls.Done()
				l.s.misbehave(out, h)
			}()
			continue
		}
		if r := l.s.greetingReply(); r.rejects() {
			if !l.s.enter() {
				out.Close()
				continue
			}
			go func() {
				defer l.s.calls.Done()
				rejectGreeting(out, r, l.s.opts.Hostname)
			}()
			continue
		}
		return out, nil
	}
}

// track registers nc as open, or closes it and returns nil if the
// listener it came from is no longer current.
func (l *listener) track(nc net.Conn, from net.Listener) *conn {
	l.mu.Lock()
	if l.closed || l.inner != from {
		l.mu.Unlock()
		nc.Close()
		return nil
	}
	c := &conn{Conn: nc, l: l, coalesce: l.s.opts.CoalesceReplies}
	if l.s.opts.RecordReads {
		c.reads = l.s.newReadLog()
	}
	l.conns[c] = struct{}{}
	l.mu.Unlock()
	l.s.connections.Add(1)
	n := l.s.active.Add(1)
	for {
		peak := l.s.maxActive.Load()
		if n <= peak || l.s.maxActive.CompareAndSwap(peak, n) {
			break
		}
	}
	return c
}

func (l *listener) untrack(c *conn) {
	l.mu.Lock()
	_, ok := l.conns[c]
	delete(l.conns, c)
	l.mu.Unlock()
	if ok {
		l.s.active.Add(-1)
	}
}

// down closes the socket and every open connection.
func (l *listener) down() {
	l.upMu.Lock()
	defer l.upMu.Unlock()
	l.mu.Lock()
	if l.closed || l.inner == nil {
		l.mu.Unlock()
		return
	}
	inner := l.inner
	l.inner = nil
	l.isUp = make(chan struct{})
	conns := l.takeConns()
	l.mu.Unlock()
	inner.Close()
	closeAll(conns)
}

// up binds the same address again, retrying while the port is busy.
func (l *listener) up() error {
	l.upMu.Lock()
	defer l.upMu.Unlock()
	l.mu.Lock()
	skip := l.closed || l.inner != nil
	l.mu.Unlock()
	if skip {
		return nil
	}
	deadline := time.Now().Add(rebindTimeout)
	for {
		inner, err := net.Listen("tcp", l.addr.String())
		if err == nil {
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.closed {
				return inner.Close()
			}
			l.inner = inner
			close(l.isUp)
			return nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			return fmt.Errorf("listen again: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Close stops accepting and closes every open connection.
func (l *listener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.done)
	inner := l.inner
	l.inner = nil
	conns := l.takeConns()
	l.mu.Unlock()
	if inner != nil {
		inner.Close()
	}
	closeAll(conns)
	return nil
}

// Addr returns the fixed listening address.
func (l *listener) Addr() net.Addr { return l.addr }

// takeConns empties the open set; l.mu must be held. The connections
// leave the active count here, because their Close will find them gone.
func (l *listener) takeConns() []*conn {
	conns := make([]*conn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	clear(l.conns)
	l.s.active.Add(-int64(len(conns)))
	return conns
}

func closeAll(conns []*conn) {
	for _, c := range conns {
		c.Close()
	}
}

// conn reports its own closing to the listener, once, and is where the
// server's side of the wire is played with (wire.go).
type conn struct {
	net.Conn
	l    *listener
	once sync.Once
	drip atomic.Int64 // pause between two written octets; 0: write at once

	mu       sync.Mutex // guards held and coalesce
	held     []byte     // replies held back by Options.CoalesceReplies
	coalesce bool
	reads    *readLog // with Options.RecordReads
}

// rejectGreeting answers the connection with r instead of 220 and closes
// it, as a server that is overloaded (421) or refuses service (554) does.
func rejectGreeting(c net.Conn, r *Reply, hostname string) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(ioTimeout))
	text := r.Message
	if text == "" {
		text = hostname + " Service not available"
	}
	if r.Enhanced != [3]int{} {
		text = fmt.Sprintf("%d.%d.%d %s", r.Enhanced[0], r.Enhanced[1], r.Enhanced[2], text)
	}
	_, _ = fmt.Fprintf(c, "%d %s\r\n", r.Code, text)
}
