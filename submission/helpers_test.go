package submission

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/internal/testcert"
	"github.com/mxout/mxout/internal/testlog"
	"github.com/mxout/mxout/metrics"
	"github.com/mxout/mxout/queue"
	"github.com/mxout/mxout/queue/queuetest"
)

// testNow is the clock of every test server.
func testNow() time.Time { return time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC) }

func testConfig() Config {
	return Config{
		Hostname:            "relay.example.net",
		MaxMessageBytes:     64 << 10,
		MaxRecipients:       5,
		TrustedNetworks:     []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		ReadTimeout:         10 * time.Second,
		WriteTimeout:        10 * time.Second,
		DataTimeout:         10 * time.Second,
		SessionTimeout:      time.Minute,
		MaxLineLength:       2000,
		MaxErrors:           20,
		MaxConnections:      100,
		MaxConnectionsPerIP: 50,
		PreAuthTimeout:      time.Minute,
		RateLimit:           RateLimit{Window: time.Minute},
		AuthThrottle: AuthThrottle{
			Window: 15 * time.Minute, MaxFailuresPerIP: 100, MaxFailuresPerUser: 100, MaxFailuresPerSession: 3,
		},
		Now: testNow,
	}
}

// harness is a running Server on 127.0.0.1 with its queue and metrics.
type harness struct {
	srv    *Server
	addr   string
	m      *metrics.Metrics
	client *tls.Config // trusts the server's certificate
	logs   *testlog.Buffer
	served chan error // Serve's result
}

// start serves cfg (with TLS, metrics and a logger filled in) in mode.
func start(t *testing.T, cfg Config, q Queue, mode configs.TLSMode) *harness {
	t.Helper()
	h := &harness{logs: &testlog.Buffer{}, served: make(chan error, 1)}
	var serverTLS *tls.Config
	serverTLS, h.client = newTLSConfigs(t)
	if cfg.TLSConfig == nil {
		cfg.TLSConfig = serverTLS
	}
	h.m = metrics.New(prometheus.NewRegistry())
	cfg.Metrics = h.m
	cfg.Logger = slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	srv, err := New(cfg, q)
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.addr = l.Addr().String()
	go func() { h.served <- srv.Serve(l, mode) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-h.served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return h
}

// openQueue opens a real queue in a temporary directory with small badger
// sizes; free, if not nil, replaces statfs.
func openQueue(t *testing.T, free func(string) (int64, error)) *queue.Queue {
	t.Helper()
	opts := queuetest.Options(t.TempDir())
	opts.MinFreeBytes, opts.MaxMessageBytes, opts.LeaseDuration = 1<<20, 64<<10, time.Minute
	opts.Now, opts.FreeSpace = testNow, free
	return queuetest.Open(t, opts)
}

// fakeQueue records enqueued messages, or fails with err.
type fakeQueue struct {
	err  error
	mu   sync.Mutex
	msgs []fakeMessage
}

type fakeMessage struct {
	id   queue.ID
	env  queue.Envelope
	body []byte
}

func (f *fakeQueue) Enqueue(_ context.Context, id queue.ID, env queue.Envelope, body []byte) (queue.ID, error) {
	if f.err != nil {
		return "", f.err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.msgs = append(f.msgs, fakeMessage{id: id, env: env, body: bytes.Clone(body)})
	return id, nil
}

func (f *fakeQueue) messages() []fakeMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeMessage(nil), f.msgs...)
}

// rawConn is a line-level SMTP client for exact replies and raw bytes.
type rawConn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	rc := dialRawFrom(t, addr, "")
	rc.expect("220 ")
	return rc
}

// dialRawFrom connects from the loopback address from ("" for any)
// without reading the greeting.
func dialRawFrom(t *testing.T, addr, from string) *rawConn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, r: bufio.NewReader(c)}
}

// dialTLSRaw connects to an implicit TLS listener from the loopback
// address from ("" for any), reads the greeting and says EHLO.
func dialTLSRaw(t *testing.T, h *harness, from string) *rawConn {
	t.Helper()
	rc := dialRawFrom(t, h.addr, from)
	rc.handshake(h.client)
	rc.expect("220 ")
	rc.must("EHLO client.example", "250")
	return rc
}

// authPlain is the AUTH PLAIN command line for user and password.
func authPlain(user, password string) string {
	return "AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+password))
}

// startTLS sends STARTTLS and switches the connection to TLS.
func (rc *rawConn) startTLS(client *tls.Config) *tls.Conn {
	rc.t.Helper()
	rc.must("STARTTLS", "220 ")
	return rc.handshake(client)
}

// handshake runs the client's side of a TLS handshake on the connection,
// which goes on over TLS.
func (rc *rawConn) handshake(client *tls.Config) *tls.Conn {
	rc.t.Helper()
	tc := tls.Client(rc.c, client)
	if err := tc.Handshake(); err != nil {
		rc.t.Fatal(err)
	}
	rc.c, rc.r = tc, bufio.NewReader(tc)
	return tc
}

// expectClosed fails unless the server closes the connection without a
// further reply within wait.
func (rc *rawConn) expectClosed(wait time.Duration) {
	rc.t.Helper()
	rc.c.SetReadDeadline(time.Now().Add(wait))
	line, err := rc.r.ReadString('\n')
	if err == nil {
		rc.t.Fatalf("got %q, want the connection closed", line)
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		rc.t.Fatalf("connection still open after %v", wait)
	}
}

// reply reads one (possibly multiline) reply and returns it, lines joined
// by "\n".
func (rc *rawConn) reply() string {
	rc.t.Helper()
	rc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var lines []string
	for {
		line, err := rc.r.ReadString('\n')
		if err != nil {
			rc.t.Fatalf("read reply: %v (so far %q)", err, lines)
		}
		line = strings.TrimRight(line, "\r\n")
		lines = append(lines, line)
		if len(line) < 4 || line[3] != '-' {
			return strings.Join(lines, "\n")
		}
	}
}

func (rc *rawConn) write(s string) {
	rc.t.Helper()
	if _, err := rc.c.Write([]byte(s)); err != nil {
		rc.t.Fatal(err)
	}
}

// cmd sends one command line and returns the reply.
func (rc *rawConn) cmd(line string) string {
	rc.t.Helper()
	rc.write(line + "\r\n")
	return rc.reply()
}

// expect reads a reply and fails unless it starts with prefix.
func (rc *rawConn) expect(prefix string) string {
	rc.t.Helper()
	r := rc.reply()
	if !strings.HasPrefix(r, prefix) {
		rc.t.Fatalf("reply %q, want prefix %q", r, prefix)
	}
	return r
}

// must sends a command and fails unless the reply starts with prefix.
func (rc *rawConn) must(line, prefix string) string {
	rc.t.Helper()
	rc.write(line + "\r\n")
	return rc.expect(prefix)
}

// send runs a whole transaction with raw data (which must end in
// "\r\n.\r\n") and returns the reply to the data.
func (rc *rawConn) send(from string, to []string, data string) string {
	rc.t.Helper()
	rc.must("MAIL FROM:<"+from+">", "250 ")
	for _, r := range to {
		rc.must("RCPT TO:<"+r+">", "250 ")
	}
	rc.must("DATA", "354 ")
	rc.write(data)
	return rc.reply()
}

// newTLSConfigs makes a self-signed certificate for 127.0.0.1 and
// localhost, and the server and client configs that use it.
func newTLSConfigs(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	pair, err := testcert.New("localhost", "localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair.TLS}},
		&tls.Config{RootCAs: pair.Pool(), ServerName: "localhost"}
}

// hash makes a cheap bcrypt hash for tests.
func hash(t testing.TB, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// errBadger stands in for an arbitrary storage error.
var errBadger = errors.New("badger: value log write failed")

// message builds DATA content from header and body lines.
func message(lines ...string) string {
	return strings.Join(lines, "\r\n") + "\r\n"
}

// dotEnd terminates DATA content.
func dotEnd(data string) string { return data + ".\r\n" }
