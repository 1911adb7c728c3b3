package testnet

import (
	"io"
	"net"
	"testing"
	"time"
)

// Serve runs the handler on each connection, and a connection the
// handler leaves open is closed when the test that served it ends.
func TestServe_HandlesAndClosesAtTheEnd(t *testing.T) {
	t.Parallel()
	var held net.Conn
	ok := t.Run("serve", func(t *testing.T) {
		addr := Serve(t, func(c net.Conn) { io.WriteString(c, "hello") })
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 5)
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hello" {
			t.Fatalf("read %q, %v", buf, err)
		}
		held = c
	})
	if !ok {
		return
	}
	defer held.Close()
	held.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := held.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("after the test: read %d, %v; want EOF", n, err)
	}
}
