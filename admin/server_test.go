package admin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxout/mxout/queue"
	"github.com/mxout/mxout/queue/queuetest"
)

func openQueue(t *testing.T) *queue.Queue {
	t.Helper()
	opts := queuetest.Options(t.TempDir())
	opts.MaxMessageBytes = 1 << 20
	return queuetest.Open(t, opts)
}

// served is an API server on a loopback TCP port and on a unix socket.
type served struct {
	tcp, socket string
}

// serveAPI starts an API server over q on loopback TCP and a unix socket.
func serveAPI(t *testing.T, q Queue, cfg Config) served {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Not t.TempDir(): a long test name makes a path too long for a socket.
	dir, err := os.MkdirTemp("", "mxout-admin")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	u, err := net.Listen("unix", filepath.Join(dir, "admin.sock"))
	if err != nil {
		t.Fatal(err)
	}
	s := New(cfg, q)
	done := make(chan error, 2)
	go func() { done <- s.Serve(l) }()
	go func() { done <- s.Serve(u) }()
	t.Cleanup(func() {
		s.Shutdown(context.Background())
		for range 2 {
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		}
	})
	return served{tcp: l.Addr().String(), socket: u.Addr().String()}
}

// serve starts an API server over q and returns a client on its socket,
// which may do everything.
func serve(t *testing.T, q Queue, cfg Config) *Client {
	t.Helper()
	return NewSocketClient(serveAPI(t, q, cfg).socket, "")
}

func enqueue(t *testing.T, q *queue.Queue, from string, to ...string) queue.ID {
	t.Helper()
	e := queue.Envelope{From: from}
	for _, a := range to {
		e.To = append(e.To, queue.RecipientParams{Addr: a})
	}
	id, err := q.Enqueue(context.Background(), "", e, []byte("Subject: test "+from+"\r\nFrom: "+from+"\r\n\r\nbody\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Millisecond) // distinct arrival times keep the order obvious
	return id
}

func apiStatus(err error) int {
	var e *APIError
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

func TestAPI_ListShowStats(t *testing.T) {
	t.Parallel()
	q := openQueue(t)
	var ids []queue.ID
	for i := 0; i < 7; i++ {
		ids = append(ids, enqueue(t, q, fmt.Sprintf("s%d@app.example", i), fmt.Sprintf("r%d@d%d.example", i, i%2)))
	}
	q.Hold(ids[3])
	c := serve(t, q, Config{MaxScan: 2})
	ctx := context.Background()

	st, err := c.Stats(ctx)
	if err != nil || st.Ready != 6 || st.Held != 1 || st.Total != 7 || st.Bytes == 0 || st.Oldest.IsZero() {
		t.Errorf("stats = %+v, %v", st, err)
	}
	// Follow the cursor: MaxScan 2 makes short pages, never a lost message.
	var got []queue.ID
	var after queue.ID
	for {
		p, err := c.List(ctx, queue.ListOptions{After: after, Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range p.Messages {
			got = append(got, m.ID)
		}
		if p.Next == "" {
			break
		}
		after = p.Next
	}
	if fmt.Sprint(got) != fmt.Sprint(ids) {
		t.Errorf("listed %v, want %v", got, ids)
	}
	filters := []struct {
		name string
		opts queue.ListOptions
		want []queue.ID
	}{
		{"held", queue.ListOptions{State: "held"}, ids[3:4]},
		{"domain", queue.ListOptions{Domain: "d1.example"}, []queue.ID{ids[1], ids[3], ids[5]}},
		{"sender", queue.ListOptions{Sender: "S6@app.example"}, ids[6:7]},
		{"older than", queue.ListOptions{OlderThan: time.Hour}, nil},
	}
	for _, f := range filters {
		var got []queue.ID
		opts := f.opts
		for {
			p, err := c.List(ctx, opts)
			if err != nil {
				t.Fatalf("%s: %v", f.name, err)
			}
			for _, m := range p.Messages {
				got = append(got, m.ID)
			}
			if p.Next == "" {
				break
			}
			opts.After = p.Next
		}
		if fmt.Sprint(got) != fmt.Sprint(f.want) {
			t.Errorf("%s: %v, want %v", f.name, got, f.want)
		}
	}

	m, err := c.Show(ctx, ids[3], true)
	if err != nil {
		t.Fatal(err)
	}
	if m.State != "held" || m.From != "s3@app.example" || m.Recipients[0].Addr != "r3@d1.example" || m.Recipients[0].State != "pending" {
		t.Errorf("show = %+v", m)
	}
	if m.Headers != "Subject: test s3@app.example\r\nFrom: s3@app.example\r\n" {
		t.Errorf("headers = %q", m.Headers)
	}
	if m, _ := c.Show(ctx, ids[0], false); m.Headers != "" || m.State != "ready" {
		t.Errorf("show without headers = %+v", m)
	}
}

func TestAPI_BadRequests(t *testing.T) {
	t.Parallel()
	q := openQueue(t)
	api := serveAPI(t, q, Config{})
	c := NewSocketClient(api.socket, "")
	ctx := context.Background()
	unknown := queue.NewID(time.Now())
	tests := []struct {
		name string
		call func() error
		want int
	}{
		{"bad state", func() error { _, err := c.List(ctx, queue.ListOptions{State: "bogus"}); return err }, 400},
		{"limit too big", func() error { _, err := c.List(ctx, queue.ListOptions{Limit: maxLimit + 1}); return err }, 400},
		{"bad cursor", func() error { _, err := c.List(ctx, queue.ListOptions{After: "nope"}); return err }, 400},
		{"bad id", func() error { _, err := c.Show(ctx, "not-an-id", false); return err }, 400},
		{"unknown show", func() error { _, err := c.Show(ctx, unknown, false); return err }, 404},
		{"unknown hold", func() error { _, err := c.Hold(ctx, unknown); return err }, 404},
		{"unknown delete", func() error { _, err := c.Delete(ctx, unknown, false); return err }, 404},
	}
	for _, tt := range tests {
		if got := apiStatus(tt.call()); got != tt.want {
			t.Errorf("%s: status %d, want %d", tt.name, got, tt.want)
		}
	}
	resp, err := http.Get("http://" + api.tcp + "/v2/whatever")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("unknown endpoint = %d", resp.StatusCode)
	}
}

func TestAPI_HoldReleaseRetryDeleteFlush(t *testing.T) {
	t.Parallel()
	q := openQueue(t)
	id := enqueue(t, q, "a@app.example", "b@dest.example")
	other := enqueue(t, q, "a@app.example", "c@dest.example")
	c := serve(t, q, Config{})
	ctx := context.Background()

	if d, err := c.Hold(ctx, id); err != nil || d.Action != "held" {
		t.Fatalf("hold = %+v, %v", d, err)
	}
	if s := q.Stats(); s.Held != 1 || s.Ready != 1 {
		t.Errorf("after hold: %+v", s)
	}
	if jobs, _ := q.Lease(time.Now().Add(time.Hour), 10); len(jobs) != 1 || jobs[0].ID != other {
		t.Fatalf("lease while held = %v", jobs)
	}
	// other is being delivered now: changes wait.
	if _, err := c.Retry(ctx, other); apiStatus(err) != http.StatusConflict {
		t.Errorf("retry of a message in flight = %v, want 409", err)
	}
	if err := q.ReturnLease(other); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Release(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Retry(ctx, id); err != nil {
		t.Fatal(err)
	}
	// Defer both, then flush makes them due now.
	jobs, _ := q.Lease(time.Now(), 10)
	for _, j := range jobs {
		q.Complete(j.ID, queue.Update{Results: []queue.Result{{Index: 0, State: queue.Pending, NextAttempt: time.Now().Add(time.Hour), Attempted: time.Now()}}})
	}
	if f, err := c.Flush(ctx); err != nil || f.Messages != 2 {
		t.Errorf("flush = %+v, %v", f, err)
	}
	if d, err := c.Delete(ctx, id, false); err != nil || d.Action != "deleted" {
		t.Fatalf("delete = %+v, %v", d, err)
	}
	if _, err := q.Get(id); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("deleted message still there: %v", err)
	}
}

// bouncer records what it is asked to bounce, and may fail.
type bouncer struct {
	mu     sync.Mutex
	q      *queue.Queue
	fail   error
	got    []*queue.Message
	bodies []string
	states []string
}

func (b *bouncer) BounceDeleted(_ context.Context, m *queue.Message, body []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.got = append(b.got, m)
	b.bodies = append(b.bodies, string(body))
	b.states = append(b.states, b.q.StateOf(m))
	return b.fail
}

func TestAPI_DeleteWithBounce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("not available", func(t *testing.T) {
		t.Parallel()
		q := openQueue(t)
		id := enqueue(t, q, "a@app.example", "b@dest.example")
		c := serve(t, q, Config{})
		_, err := c.Delete(ctx, id, true)
		if apiStatus(err) != http.StatusNotImplemented || !strings.Contains(err.Error(), "bounces not available in this build") {
			t.Errorf("delete --bounce without a bouncer = %v, want 501", err)
		}
		if _, err := q.Get(id); err != nil {
			t.Errorf("message gone after a refused bounce: %v", err)
		}
	})
	t.Run("bounced", func(t *testing.T) {
		t.Parallel()
		q := openQueue(t)
		id := enqueue(t, q, "a@app.example", "b@dest.example")
		b := &bouncer{q: q}
		c := serve(t, q, Config{Bouncer: b})
		if d, err := c.Delete(ctx, id, true); err != nil || d.Action != "bounced" {
			t.Fatalf("delete --bounce = %+v, %v", d, err)
		}
		if len(b.got) != 1 || b.got[0].ID != id || !strings.HasPrefix(b.bodies[0], "Subject: test") {
			t.Errorf("bouncer got %+v %q", b.got, b.bodies)
		}
		if b.states[0] != "held" {
			t.Errorf("message was %s during the bounce, want held", b.states[0])
		}
		if _, err := q.Get(id); !errors.Is(err, queue.ErrNotFound) {
			t.Errorf("bounced message still queued: %v", err)
		}
	})
	t.Run("bounce fails", func(t *testing.T) {
		t.Parallel()
		q := openQueue(t)
		id := enqueue(t, q, "a@app.example", "b@dest.example")
		c := serve(t, q, Config{Bouncer: &bouncer{q: q, fail: errors.New("disk full")}})
		if _, err := c.Delete(ctx, id, true); apiStatus(err) != http.StatusInternalServerError {
			t.Errorf("failed bounce = %v, want 500", err)
		}
		m, err := q.Get(id)
		if err != nil || q.StateOf(m) != "ready" {
			t.Errorf("after a failed bounce the message is %+v, %v; want kept and ready", m, err)
		}
	})
}

func TestAPI_Token(t *testing.T) {
	t.Parallel()
	q := openQueue(t)
	api := serveAPI(t, q, Config{Token: "s3cret"})
	ctx := context.Background()
	good := NewClient(api.tcp, "s3cret")
	if _, err := good.Stats(ctx); err != nil {
		t.Errorf("with the token: %v", err)
	}
	if _, err := good.Flush(ctx); err != nil {
		t.Errorf("a change with the token: %v", err)
	}
	for _, token := range []string{"", "wrong", "s3cret-but-longer"} {
		for _, c := range []*Client{NewClient(api.tcp, token), NewSocketClient(api.socket, token)} {
			if _, err := c.Stats(ctx); apiStatus(err) != http.StatusUnauthorized {
				t.Errorf("token %q at %s: %v, want 401", token, c.Addr(), err)
			}
		}
	}
	if _, err := NewSocketClient(api.socket, "s3cret").Flush(ctx); err != nil {
		t.Errorf("a change on the socket with the token: %v", err)
	}
}

// fakeListener claims a non-loopback address without opening a socket.
type fakeListener struct{ addr net.Addr }

func (f fakeListener) Accept() (net.Conn, error) { return nil, net.ErrClosed }
func (f fakeListener) Close() error              { return nil }
func (f fakeListener) Addr() net.Addr            { return f.addr }

func TestServe_RefusesNonLoopbackWithoutToken(t *testing.T) {
	t.Parallel()
	q := openQueue(t)
	for _, ip := range []string{"0.0.0.0", "192.0.2.7", "::"} {
		l := fakeListener{&net.TCPAddr{IP: net.ParseIP(ip), Port: 8025}}
		if err := New(Config{}, q).Serve(l); !errors.Is(err, ErrNotLoopback) {
			t.Errorf("serve on %s without a token = %v, want ErrNotLoopback", ip, err)
		}
		if err := New(Config{Token: "t"}, q).Serve(l); errors.Is(err, ErrNotLoopback) {
			t.Errorf("serve on %s with a token refused", ip)
		}
	}
}

func TestClient_Unreachable(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	if _, err := NewClient(addr, "").Stats(context.Background()); !errors.Is(err, ErrUnreachable) {
		t.Errorf("stats with nothing listening = %v, want ErrUnreachable", err)
	}
}
