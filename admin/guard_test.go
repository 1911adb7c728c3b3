package admin

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/mxout/mxout/internal/rawhttp"
)

func TestGuard_BrowsersHostsAndBodies(t *testing.T) {
	t.Parallel()
	q := openQueue(t)
	id := enqueue(t, q, "a@app.example", "b@dest.example")
	api := serveAPI(t, q, Config{Names: []string{"relay.example"}})
	_, port, _ := net.SplitHostPort(api.tcp)
	hold := "POST /v1/messages/" + string(id) + "/hold HTTP/1.1"
	tests := []struct {
		name     string
		network  string
		head     []string
		body     string
		want     int
		contains string
	}{
		{"reads on TCP", "tcp", []string{"GET /v1/stats HTTP/1.1", "Host: " + api.tcp}, "", 200, `"ready"`},
		{"localhost", "tcp", []string{"GET /v1/stats HTTP/1.1", "Host: localhost:" + port}, "", 200, ""},
		{"the configured name", "tcp", []string{"GET /v1/stats HTTP/1.1", "Host: Relay.Example."}, "", 200, ""},
		{"a rebound name", "tcp", []string{"GET /v1/stats HTTP/1.1", "Host: evil.example:" + port}, "", 421, "not this API's address"},
		{"another address", "tcp", []string{"GET /v1/stats HTTP/1.1", "Host: 127.0.0.2:" + port}, "", 421, ""},
		{"no host", "tcp", []string{"GET /v1/stats HTTP/1.0"}, "", 421, ""},
		{"a page's script", "tcp", []string{"GET /v1/messages HTTP/1.1", "Host: " + api.tcp, "Origin: http://evil.example"}, "", 403, "web pages"},
		{"a page's form", "tcp", []string{hold, "Host: " + api.tcp, "Origin: null", "Content-Type: application/x-www-form-urlencoded", "Content-Length: 0"}, "", 403, "web pages"},
		{"cross-site fetch metadata", "tcp", []string{"GET /v1/stats HTTP/1.1", "Host: " + api.tcp, "Sec-Fetch-Site: cross-site"}, "", 403, ""},
		{"a typed URL", "tcp", []string{"GET /v1/stats HTTP/1.1", "Host: " + api.tcp, "Sec-Fetch-Site: none"}, "", 200, ""},
		{"form body", "tcp", []string{hold, "Host: " + api.tcp, "Content-Type: application/x-www-form-urlencoded", "Content-Length: 3"}, "a=b", 415, "application/json"},
		{"text body", "tcp", []string{hold, "Host: " + api.tcp, "Content-Type: text/plain", "Content-Length: 2"}, "{}", 415, ""},
		{"chunked body without a type", "tcp", []string{hold, "Host: " + api.tcp, "Transfer-Encoding: chunked"}, "2\r\n{}\r\n0\r\n\r\n", 415, ""},
		{"a change on TCP without a token", "tcp", []string{hold, "Host: " + api.tcp}, "", 403, "admin socket"},
		{"a JSON change on TCP without a token", "tcp", []string{hold, "Host: " + api.tcp, "Content-Type: application/json; charset=utf-8", "Content-Length: 2"}, "{}", 403, "admin socket"},
		{"a page's form on the socket", "unix", []string{hold, "Host: localhost", "Origin: null"}, "", 403, ""},
		{"text body on the socket", "unix", []string{hold, "Host: localhost", "Content-Type: text/plain", "Content-Length: 2"}, "{}", 415, ""},
		{"a rebound name on the socket", "unix", []string{"GET /v1/stats HTTP/1.1", "Host: evil.example"}, "", 421, ""},
		{"a change on the socket", "unix", []string{hold, "Host: localhost"}, "", 200, `"held"`},
	}
	for _, tt := range tests {
		addr := api.tcp
		if tt.network == "unix" {
			addr = api.socket
		}
		code, body := rawhttp.Do(t, tt.network, addr, tt.head, tt.body)
		if code != tt.want || !strings.Contains(body, tt.contains) {
			t.Errorf("%s: %d %s, want %d with %q", tt.name, code, strings.TrimSpace(body), tt.want, tt.contains)
		}
	}
	if s := q.Stats(); s.Held != 1 {
		t.Errorf("held = %d, want only the change on the socket to have held the message", s.Held)
	}
}

// TestGuard_HeadersOnlyForThePrivileged: like Postfix's postcat, a
// message's headers need the socket or the token; the envelope, like
// mailq's, is for any local user.
func TestGuard_HeadersOnlyForThePrivileged(t *testing.T) {
	t.Parallel()
	q := openQueue(t)
	id := enqueue(t, q, "a@app.example", "b@dest.example")
	ctx := context.Background()
	api := serveAPI(t, q, Config{})
	m, err := NewClient(api.tcp, "").Show(ctx, id, true)
	if err != nil || m.Headers != "" || !m.HeadersWithheld || len(m.Recipients) != 1 {
		t.Errorf("show on TCP without a token = %+v, %v; want the envelope without headers", m, err)
	}
	m, err = NewSocketClient(api.socket, "").Show(ctx, id, true)
	if err != nil || !strings.Contains(m.Headers, "Subject:") || m.HeadersWithheld {
		t.Errorf("show on the socket = %+v, %v; want headers", m, err)
	}
	withToken := serveAPI(t, q, Config{Token: "s3cret"})
	m, err = NewClient(withToken.tcp, "s3cret").Show(ctx, id, true)
	if err != nil || !strings.Contains(m.Headers, "Subject:") {
		t.Errorf("show on TCP with the token = %+v, %v; want headers", m, err)
	}
	code, body := rawhttp.Do(t, "tcp", withToken.tcp, []string{"POST /v1/flush HTTP/1.1", "Host: " + withToken.tcp, "Authorization: Bearer s3cret", "Origin: http://evil.example"}, "")
	if code != 403 {
		t.Errorf("a page with the token: %d %s", code, body)
	}
	var e apiError
	if json.Unmarshal([]byte(body), &e) != nil || e.Error == "" {
		t.Errorf("refusal is not the API's JSON error: %s", body)
	}
}

func TestClient_WildcardListenReachedOnLoopback(t *testing.T) {
	t.Parallel()
	api := serveAPI(t, openQueue(t), Config{Token: "t"})
	_, port, _ := net.SplitHostPort(api.tcp)
	for _, addr := range []string{":" + port, "0.0.0.0:" + port} {
		if _, err := NewClient(addr, "t").Stats(context.Background()); err != nil {
			t.Errorf("stats via %q: %v", addr, err)
		}
	}
}
