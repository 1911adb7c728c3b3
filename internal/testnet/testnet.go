// Package testnet hands tests a private corner of the loopback network: a
// random 127.x.y.0/24 and one TCP port number free on it, so that several
// destination MX servers can listen on distinct addresses at the same port
// (a relay delivers to one configured port) while tests run in parallel.
package testnet

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
)

// Net is a /24 on loopback with a shared port. Safe for concurrent use.
type Net struct {
	a, b byte
	// Port is free on the first address and, almost surely, on the others.
	Port int
	mu   sync.Mutex
	next byte
}

// New picks a random 127.a.b.0/24 and a port free on it; it fails the
// test if it finds none.
func New(t testing.TB) *Net {
	t.Helper()
	n, err := Pick()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Pick is New outside a test, for load tools such as cmd/mxout-bench.
func Pick() (*Net, error) {
	for try := 0; try < 20; try++ {
		n := &Net{a: byte(1 + rand.IntN(250)), b: byte(1 + rand.IntN(250)), next: 10}
		l, err := net.Listen("tcp", n.IP(1)+":0")
		if err != nil {
			continue
		}
		n.Port = l.Addr().(*net.TCPAddr).Port
		l.Close()
		return n, nil
	}
	return nil, errors.New("testnet: no free loopback port found")
}

// IP returns 127.a.b.last.
func (n *Net) IP(last byte) string { return fmt.Sprintf("127.%d.%d.%d", n.a, n.b, last) }

// NextIP returns a fresh address of the /24 (from .10 up).
func (n *Net) NextIP() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	ip := n.IP(n.next)
	n.next++
	return ip
}

// Addr is ip:Port.
func (n *Net) Addr(ip string) string { return fmt.Sprintf("%s:%d", ip, n.Port) }

// Serve listens on a port of its own on 127.0.0.1 and runs handle, in a
// goroutine, on each connection it accepts; the connections a handler
// left open are closed when the test ends, with the listener. It returns
// the address.
func Serve(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		conns  []net.Conn
		closed bool
	)
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		closed = true
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if closed {
				mu.Unlock()
				c.Close()
				return
			}
			conns = append(conns, c)
			mu.Unlock()
			go handle(c)
		}
	}()
	return l.Addr().String()
}
