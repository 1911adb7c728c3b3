package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/mxout/mxout/events"
	"github.com/mxout/mxout/queue"
)

// openQueue opens a queue in dir, closed when the test ends: after the
// senders started later have stopped (cleanups run last-in first-out).
func openQueue(t *testing.T, dir string) *queue.Queue {
	t.Helper()
	q, err := queue.Open(queue.Options{
		Dir: dir, MinFreeBytes: 1, MaxMessageBytes: 1024, LeaseDuration: time.Second,
		MemtableBytes: 4 << 20, NumMemtables: 2, BlockCacheBytes: 1 << 20, IndexCacheBytes: 1 << 20,
		ValueLogFileBytes: 8 << 20, ValueThreshold: 1024,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// appendEvents writes n events of type ty owned by owner (one commit) and
// returns their IDs.
func appendEvents(t *testing.T, q *queue.Queue, n int, ty events.Type, owner events.Owner, at time.Time) []string {
	t.Helper()
	recs := make([]queue.EventRecord, n)
	ids := make([]string, n)
	for i := range recs {
		ids[i] = string(queue.NewID(at))
		ev := &events.Event{ID: ids[i], Type: ty, Time: at, QueueID: "q", Recipient: fmt.Sprintf("r%d@example.net", i), Owner: owner}
		data, err := events.Encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		recs[i] = queue.EventRecord{Time: at, Tag: owner.String(), Data: data}
	}
	if err := q.AppendEvents(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	return ids
}

// receiver is a webhook endpoint on loopback that checks every signature
// and records the events of the batches it acknowledges.
type receiver struct {
	t      *testing.T
	secret string
	srv    *httptest.Server
	// answer decides the status of the nth POST (from 0); nil: 200.
	answer func(n int, r *http.Request) int

	mu      sync.Mutex
	posts   int
	ids     []string // acknowledged, in arrival order (duplicates kept)
	batches []int    // sizes of acknowledged batches
}

func newReceiver(t *testing.T, secret string, answer func(n int, r *http.Request) int) *receiver {
	rc := &receiver{t: t, secret: secret, answer: answer}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	if err := Verify(rc.secret, r.Header.Get(SignatureHeader), body, time.Now(), 5*time.Minute); err != nil {
		rc.t.Errorf("POST with a bad signature: %v", err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		rc.t.Errorf("Content-Type %q", ct)
	}
	var b struct {
		Events []events.Event `json:"events"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		rc.t.Errorf("POST body is not {\"events\": [...]}: %v", err)
	}
	rc.mu.Lock()
	n := rc.posts
	rc.posts++
	rc.mu.Unlock()
	status := http.StatusOK
	if rc.answer != nil {
		status = rc.answer(n, r)
	}
	if status >= 200 && status <= 299 {
		rc.mu.Lock()
		for _, e := range b.Events {
			rc.ids = append(rc.ids, e.ID)
		}
		rc.batches = append(rc.batches, len(b.Events))
		rc.mu.Unlock()
	}
	w.WriteHeader(status)
}

func (rc *receiver) got() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.ids...)
}

func (rc *receiver) postCount() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.posts
}

// observer records the result of every POST.
type observer struct {
	mu      sync.Mutex
	results map[string][]string
}

func (o *observer) Posted(endpoint, result string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.results == nil {
		o.results = map[string][]string{}
	}
	o.results[endpoint] = append(o.results[endpoint], result)
}

func (o *observer) of(endpoint string) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.results[endpoint]...)
}

func testConfig(eps ...Endpoint) Config {
	return Config{
		Endpoints:    eps,
		BatchSize:    100,
		Timeout:      5 * time.Second,
		RetryInitial: 5 * time.Millisecond,
		RetryMax:     20 * time.Millisecond,
		Retention:    time.Hour,
	}
}

// startSender makes a sender and runs it until the test ends.
func startSender(t *testing.T, cfg Config, q *queue.Queue) *Sender {
	t.Helper()
	s, err := New(cfg, q)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(run(s))
	return s
}

// run runs s until the returned stop is called; stop waits for Run to end.
func run(s *Sender) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

// inOrderOnce checks that got holds want in order, each at least once,
// with repeats only of a whole retried stretch (at least once, in order).
func inOrderOnce(t *testing.T, got, want []string) {
	t.Helper()
	seen := map[string]bool{}
	var firsts []string
	for _, id := range got {
		if !seen[id] {
			seen[id] = true
			firsts = append(firsts, id)
		}
	}
	if len(firsts) != len(want) {
		t.Fatalf("received %d distinct events, want %d", len(firsts), len(want))
	}
	for i := range want {
		if firsts[i] != want[i] {
			t.Fatalf("event %d is %s, want %s (out of order)", i, firsts[i], want[i])
		}
	}
}
