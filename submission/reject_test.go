package submission

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/queue"
)

func TestData_BareLineEndingsRejected(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, data string }{
		{"smuggling LF.CRLF", "Subject: x\r\n\r\nhello\n.\r\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\nSubject: forged\r\n\r\nhi\r\n.\r\n"},
		{"smuggling LF.LF", "Subject: x\r\n\r\nhello\n.\nmore\r\n.\r\n"},
		{"bare CR", "Subject: x\r\n\r\nline one\rline two\r\n.\r\n"},
		{"bare LF in header", "Subject: x\nFrom: a@example.org\r\n\r\nbody\r\n.\r\n"},
		{"CR CR LF", "Subject: x\r\r\n\r\nbody\r\n.\r\n"},
	}
	q := openQueue(t, nil)
	h := start(t, testConfig(), q, configs.TLSNone)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialRaw(t, h.addr)
			c.must("EHLO client.example", "250")
			r := c.send("a@example.org", []string{"b@example.com"}, tt.data)
			if r != "550 5.6.11 Bare LF or CR in message data (RFC 5321 2.3.8)" {
				t.Errorf("reply %q", r)
			}
			// The smuggled transaction was data, not commands; the
			// session goes on.
			c.must("NOOP", "250")
		})
	}
	if s := q.Stats(); s.Ready+s.Deferred+s.Held != 0 {
		t.Errorf("queue stats %+v, want empty", s)
	}
	if v := testutil.ToFloat64(h.m.MessagesRejected.WithLabelValues(ReasonBareLF)); v != float64(len(tests)) {
		t.Errorf("bare_lf rejections %v, want %d", v, len(tests))
	}
	if v := testutil.ToFloat64(h.m.MessagesAccepted); v != 0 {
		t.Errorf("accepted %v", v)
	}
}

func TestData_StorageErrorsAre452(t *testing.T) {
	t.Parallel()
	const want = "452 4.3.1 Insufficient system storage, try again later"
	tests := []struct {
		name string
		q    Queue
	}{
		{"ErrNoSpace", &fakeQueue{err: fmt.Errorf("enqueue: %w", queue.ErrNoSpace)}},
		{"badger error", &fakeQueue{err: errBadger}},
		{"context canceled", &fakeQueue{err: context.Canceled}},
		{"real queue, disk below reserve", openQueue(t, func(string) (int64, error) { return 512 << 10, nil })},
		{"real queue, statfs fails", openQueue(t, func(string) (int64, error) { return 0, errors.New("statfs: EIO") })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := start(t, testConfig(), tt.q, configs.TLSNone)
			c := dialRaw(t, h.addr)
			c.must("EHLO client.example", "250")
			r := c.send("a@example.org", []string{"b@example.com"}, dotEnd(message("Subject: x", "", "y")))
			if r != want {
				t.Errorf("reply %q, want %q", r, want)
			}
			if v := testutil.ToFloat64(h.m.MessagesRejected.WithLabelValues(ReasonStorage)); v != 1 {
				t.Errorf("storage rejections %v, want 1", v)
			}
			if !strings.Contains(h.logs.String(), "msg=\"enqueue failed\" queue_id=") {
				t.Errorf("no enqueue failure log line with the queue ID first:\n%s", h.logs)
			}
			// A temporary failure leaves the session usable for a retry.
			c.must("MAIL FROM:<a@example.org>", "250")
		})
	}
}

// startServer serves a new server (testConfig, a fake queue) on a fresh
// loopback listener, for the shutdown tests, and opens a session to it
// that has said EHLO. served has what Serve returned.
func startServer(t *testing.T) (srv *Server, c *rawConn, served chan error) {
	t.Helper()
	srv, err := New(testConfig(), &fakeQueue{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served = make(chan error, 1)
	go func() { served <- srv.Serve(l, configs.TLSNone) }()
	c = dialRaw(t, l.Addr().String())
	c.must("EHLO client.example", "250")
	return srv, c, served
}

func TestShutdown_EndsIdleSessionsAtOnce(t *testing.T) {
	t.Parallel()
	srv, c, served := startServer(t)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown with an idle session: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Shutdown waited %v for an idle session", d)
	}
	c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if line, err := c.r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "421 ") {
		t.Errorf("idle session got %q, %v; want a 421", line, err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve after Shutdown: %v, want nil", err)
	}
	l2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(l2, configs.TLSNone); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Shutdown: %v, want ErrServerClosed", err)
	}
}

func TestShutdown_LetsTransactionFinish(t *testing.T) {
	t.Parallel()
	srv, c, served := startServer(t)
	c.must("MAIL FROM:<a@example.org>", "250")
	c.must("RCPT TO:<b@example.com>", "250")

	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(context.Background()) }()
	time.Sleep(50 * time.Millisecond) // let Shutdown start draining
	c.must("DATA", "354")
	c.must(strings.TrimSuffix(dotEnd(message("Subject: x", "", "y")), "\r\n"), "250")
	c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if line, err := c.r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "421 ") {
		t.Errorf("after its transaction a draining session got %q, %v; want a 421", line, err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return after the last session ended")
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

func TestShutdown_GivesUpOnAStalledTransaction(t *testing.T) {
	t.Parallel()
	srv, c, _ := startServer(t)
	c.must("MAIL FROM:<a@example.org>", "250")

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown with a transaction open: %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("Shutdown returned after %v, before its context ended", d)
	}
	c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.r.ReadString('\n'); err == nil {
		t.Error("session still open after Shutdown gave up")
	}
}

func TestNew_RejectsBadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		modify func(*Config)
		q      Queue
	}{
		{"no queue", func(*Config) {}, nil},
		{"no hostname", func(c *Config) { c.Hostname = "" }, &fakeQueue{}},
		{"hostname with space", func(c *Config) { c.Hostname = "a b" }, &fakeQueue{}},
		{"no size limit", func(c *Config) { c.MaxMessageBytes = 0 }, &fakeQueue{}},
		{"no recipient limit", func(c *Config) { c.MaxRecipients = 0 }, &fakeQueue{}},
		{"no line limit", func(c *Config) { c.MaxLineLength = 0 }, &fakeQueue{}},
		{"no timeout", func(c *Config) { c.ReadTimeout = 0 }, &fakeQueue{}},
		{"bad hash", func(c *Config) { c.Users = []User{{Username: "u", PasswordHash: "plain"}} }, &fakeQueue{}},
		{"bad pattern", func(c *Config) {
			c.Users = []User{{Username: "u", PasswordHash: hash(t, "p"), AllowedSenders: []string{"a*@example.org"}}}
		}, &fakeQueue{}},
		{"duplicate user", func(c *Config) {
			c.Users = []User{{Username: "u", PasswordHash: hash(t, "p")}, {Username: "u", PasswordHash: hash(t, "q")}}
		}, &fakeQueue{}},
	}
	for _, tt := range tests {
		cfg := testConfig()
		tt.modify(&cfg)
		if _, err := New(cfg, tt.q); err == nil {
			t.Errorf("%s: New accepted it", tt.name)
		}
	}
	srv, err := New(testConfig(), &fakeQueue{})
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []configs.TLSMode{configs.TLSStartTLS, configs.TLSImplicit, "tls"} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Serve(l, mode); err == nil {
			t.Errorf("Serve in mode %q without a TLS config succeeded", mode)
		}
	}
}
