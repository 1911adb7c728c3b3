// Package rawhttp sends hand-written HTTP requests in tests, for headers
// that a well-behaved client would not send (a foreign Host, a browser's
// Origin) and bodies it would not frame that way.
package rawhttp

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Do sends one request, its head lines (request line and headers, without
// the empty line that ends them; "Connection: close" is added) and then
// body, on a new connection to addr, and returns the answer's status and
// body.
func Do(t testing.TB, network, addr string, head []string, body string) (int, string) {
	t.Helper()
	c, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, strings.Join(head, "\r\n")+"\r\nConnection: close\r\n\r\n"+body); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%s: %v", head[0], err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
