package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxout/mxout/internal/testhttp"
	"github.com/mxout/mxout/queue"
	"github.com/mxout/mxout/submission"
)

// The tokens of the test keys.
const (
	billingToken = "mxo_billing-test-token"
	otherToken   = "mxo_other-test-token"
	nobodyToken  = "mxo_nobody-test-token" // a key without allowed senders
)

// testAPI is a Server on a loopback port over a real queue.
type testAPI struct {
	url string
	q   *queue.Queue
	srv *Server
	// stop shuts the server down and closes the queue (once; also at the
	// test's end).
	stop func()
}

// newTestAPI starts the API; opts may change the config and the queue's
// options before they are used.
func newTestAPI(t *testing.T, change func(*Config, *queue.Options)) *testAPI {
	t.Helper()
	qo := queue.Options{
		Dir: t.TempDir(), MinFreeBytes: 1, MaxMessageBytes: 1 << 20, LeaseDuration: time.Second,
		MemtableBytes: 4 << 20, NumMemtables: 2, BlockCacheBytes: 1 << 20, IndexCacheBytes: 1 << 20,
		ValueLogFileBytes: 8 << 20, ValueThreshold: 1024,
	}
	cfg := Config{
		Hostname:        "relay.example",
		MaxMessageBytes: 1 << 20,
		MaxRecipients:   50,
		Keys: []Key{
			{Name: "billing", TokenSHA256: TokenSHA256(billingToken), AllowedSenders: []string{"*@example.com"}},
			{Name: "other", TokenSHA256: TokenSHA256(otherToken), AllowedSenders: []string{"*@example.com"}},
			{Name: "nobody", TokenSHA256: TokenSHA256(nobodyToken)},
		},
	}
	if change != nil {
		change(&cfg, &qo)
	}
	q, err := queue.Open(qo)
	if err != nil {
		t.Fatal(err)
	}
	front, err := NewFront(newSubmission(t, cfg, q), q, cfg.Keys, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg, front, q)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	ta := &testAPI{url: "http://" + l.Addr().String(), q: q, srv: srv}
	ta.stop = sync.OnceFunc(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
		q.Close()
	})
	t.Cleanup(ta.stop)
	return ta
}

// newSubmission is SMTP submission with the API's limits, header From
// checked, serving no listener: the API uses its Accept.
func newSubmission(t *testing.T, cfg Config, q *queue.Queue) *submission.Server {
	t.Helper()
	s, err := submission.New(submission.Config{
		Hostname: cfg.Hostname, MaxMessageBytes: cfg.MaxMessageBytes, MaxRecipients: cfg.MaxRecipients,
		ReadTimeout: time.Minute, WriteTimeout: time.Minute, DataTimeout: time.Minute, SessionTimeout: time.Minute,
		MaxLineLength: 2000, MaxErrors: 10, MaxConnections: 10, MaxConnectionsPerIP: 10, PreAuthTimeout: time.Minute,
		RateLimit:       submission.RateLimit{Window: time.Minute},
		AuthThrottle:    submission.AuthThrottle{Window: time.Minute, MaxFailuresPerIP: 1, MaxFailuresPerUser: 1, MaxFailuresPerSession: 1},
		CheckHeaderFrom: true,
	}, q)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// answer is a response read whole.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// errorBody decodes {"error": ..., "field": ...}; it fails the test when
// the body has another shape.
func (a answer) errorBody(t *testing.T) (msg, field string) {
	t.Helper()
	var e map[string]string
	if err := json.Unmarshal(a.body, &e); err != nil || len(e) != 2 {
		t.Fatalf("error body %q is not {\"error\",\"field\"}: %v", a.body, err)
	}
	if _, ok := e["field"]; !ok || e["error"] == "" {
		t.Fatalf("error body %q lacks error or field", a.body)
	}
	return e["error"], e["field"]
}

func (a answer) receipt(t *testing.T) Receipt {
	t.Helper()
	if a.status != http.StatusAccepted {
		t.Fatalf("status %d, want 202: %s", a.status, a.body)
	}
	var rc Receipt
	if err := json.Unmarshal(a.body, &rc); err != nil {
		t.Fatalf("202 body %q: %v", a.body, err)
	}
	return rc
}

// do sends a request with the token (none when ""), and headers given as
// name, value pairs.
func (ta *testAPI) do(t *testing.T, method, path, token string, body []byte, headers ...string) answer {
	t.Helper()
	resp, b := testhttp.Do(t, method, ta.url+path, token, body, headers...)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

// send posts v (a JSON value, or a string taken as the body itself).
func (ta *testAPI) send(t *testing.T, token string, v any, headers ...string) answer {
	t.Helper()
	return ta.do(t, http.MethodPost, "/v1/send", token, testhttp.JSON(t, v), headers...)
}

// stored returns the queued message with its envelope.
func (ta *testAPI) stored(t *testing.T, id string) (*queue.Message, []byte) {
	t.Helper()
	m, err := ta.q.Get(queue.ID(id))
	if err != nil {
		t.Fatal(err)
	}
	body, err := ta.q.Body(queue.ID(id))
	if err != nil {
		t.Fatal(err)
	}
	return m, body
}

func recipients(m *queue.Message) []string {
	var out []string
	for _, r := range m.Recipients {
		out = append(out, r.Addr)
	}
	return out
}

func hasHeader(msg []byte, name string) bool {
	head, _, _ := bytes.Cut(msg, []byte("\r\n\r\n"))
	for _, line := range strings.Split(string(head), "\r\n") {
		if n, _, ok := strings.Cut(line, ":"); ok && strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}
