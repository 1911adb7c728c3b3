package webhook

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/mxout/mxout/events"
	"github.com/mxout/mxout/internal/testwait"
)

var billing = events.Owner{Kind: events.KindAPI, Name: "billing"}

// 250 events reach a receiver in order, in signed batches of at most
// batch_size, and the endpoint's position is stored.
func TestSender_SignedBatchesInOrder(t *testing.T) {
	t.Parallel()
	q := openQueue(t, t.TempDir())
	rc := newReceiver(t, "s3cret", nil)
	s := startSender(t, testConfig(Endpoint{URL: rc.srv.URL + "/hook", Secret: "s3cret"}), q)
	var want []string
	for range 5 {
		want = append(want, appendEvents(t, q, 50, events.Delivered, billing, time.Now())...)
	}
	testwait.For(t, 30*time.Second, "250 events", func() bool { return len(rc.got()) >= len(want) })
	inOrderOnce(t, rc.got(), want)
	rc.mu.Lock()
	for _, n := range rc.batches {
		if n > 100 || n == 0 {
			t.Errorf("a batch of %d events", n)
		}
	}
	rc.mu.Unlock()
	last, _ := q.LastEventSeq()
	testwait.For(t, 30*time.Second, "the position to be stored", func() bool {
		st := s.Status()
		return st[0].Backlog == 0 && st[0].Oldest.IsZero()
	})
	if pos, ok, err := q.EventCursor(s.eps[0].cursorName); err != nil || !ok || pos != last {
		t.Errorf("stored position %d %v %v, want %d", pos, ok, err, last)
	}
}

// A receiver that answers 500 twice still gets every event, in order,
// after the backoff; the observer sees both failures.
func TestSender_RetriesAfter500(t *testing.T) {
	t.Parallel()
	q := openQueue(t, t.TempDir())
	rc := newReceiver(t, "k", func(n int, _ *http.Request) int {
		if n < 2 {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	})
	cfg := testConfig(Endpoint{URL: rc.srv.URL, Secret: "k"})
	obs := &observer{}
	cfg.Observer = obs
	s := startSender(t, cfg, q)
	want := appendEvents(t, q, 3, events.Bounced, billing, time.Now())
	testwait.For(t, 30*time.Second, "the events after two 500s", func() bool { return len(rc.got()) >= 3 })
	inOrderOnce(t, rc.got(), want)
	testwait.For(t, 30*time.Second, "three results", func() bool { return len(obs.of(s.eps[0].label)) >= 3 })
	if got := obs.of(s.eps[0].label); !slices.Equal(got[:3], []string{ResultStatus, ResultStatus, ResultOK}) {
		t.Errorf("results %v, want status, status, ok", got)
	}
}

// An answer slower than the timeout is a failure, and the batch is sent
// again.
func TestSender_TimeoutRetried(t *testing.T) {
	t.Parallel()
	q := openQueue(t, t.TempDir())
	rc := newReceiver(t, "k", func(n int, r *http.Request) int {
		if n == 0 {
			<-r.Context().Done() // hang until the sender gives up
		}
		return http.StatusOK
	})
	cfg := testConfig(Endpoint{URL: rc.srv.URL, Secret: "k"})
	cfg.Timeout = 200 * time.Millisecond
	obs := &observer{}
	cfg.Observer = obs
	s := startSender(t, cfg, q)
	want := appendEvents(t, q, 2, events.Deferred, billing, time.Now())
	testwait.For(t, 30*time.Second, "the events after a time-out", func() bool { return len(rc.got()) >= 2 })
	inOrderOnce(t, rc.got(), want)
	testwait.For(t, 30*time.Second, "two results", func() bool { return len(obs.of(s.eps[0].label)) >= 2 })
	if got := obs.of(s.eps[0].label); got[0] != ResultTimeout || got[len(got)-1] != ResultOK {
		t.Errorf("results %v, want timeout first", got)
	}
}

// One endpoint that never answers holds up neither the other endpoint
// nor the writers of the log.
func TestSender_StuckEndpointDelaysNoOther(t *testing.T) {
	t.Parallel()
	q := openQueue(t, t.TempDir())
	release := make(chan struct{})
	stuck := newReceiver(t, "a", func(_ int, r *http.Request) int {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return http.StatusOK
	})
	defer close(release)
	fine := newReceiver(t, "b", nil)
	cfg := testConfig(Endpoint{URL: stuck.srv.URL, Secret: "a"}, Endpoint{URL: fine.srv.URL, Secret: "b"})
	cfg.BatchSize = 10
	cfg.Timeout = time.Minute
	s := startSender(t, cfg, q)
	var want []string
	for range 10 {
		want = append(want, appendEvents(t, q, 10, events.Delivered, billing, time.Now())...)
	}
	testwait.For(t, 30*time.Second, "the healthy endpoint's events", func() bool { return len(fine.got()) >= len(want) })
	inOrderOnce(t, fine.got(), want)
	if n := stuck.postCount(); n != 1 {
		t.Errorf("the stuck endpoint got %d POSTs, want its first one only", n)
	}
	st := s.Status()
	if st[0].Backlog != int64(len(want)) || st[0].Oldest.IsZero() {
		t.Errorf("stuck endpoint status %+v, want a backlog of %d and an oldest time", st[0], len(want))
	}
}

// A new endpoint starts at the end of the log; a restarted sender resumes
// at the stored position: what was acknowledged is not sent again, and
// what was written while it was stopped is.
func TestSender_NewEndpointStartsAtEndAndResumes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	q := openQueue(t, dir)
	appendEvents(t, q, 4, events.Delivered, billing, time.Now()) // before the endpoint existed
	rc := newReceiver(t, "k", nil)
	cfg := testConfig(Endpoint{URL: rc.srv.URL, Secret: "k"})
	s, err := New(cfg, q)
	if err != nil {
		t.Fatal(err)
	}
	stop := run(s)
	first := appendEvents(t, q, 3, events.Delivered, billing, time.Now())
	testwait.For(t, 30*time.Second, "the first events", func() bool { return len(rc.got()) >= 3 })
	testwait.For(t, 30*time.Second, "their acknowledgement", func() bool { return s.Status()[0].Backlog == 0 })
	stop()
	second := appendEvents(t, q, 2, events.Bounced, billing, time.Now()) // while stopped
	q.Close()

	q = openQueue(t, dir)
	s = startSender(t, cfg, q)
	testwait.For(t, 30*time.Second, "the events written while stopped", func() bool { return len(rc.got()) >= 5 })
	if got := rc.got(); !slices.Equal(got, append(first, second...)) {
		t.Errorf("received %v, want %v then %v", got, first, second)
	}
}

// Filters by type and by key: the endpoint gets its events only, and the
// skipped ones do not count as its backlog once passed.
func TestSender_Filter(t *testing.T) {
	t.Parallel()
	q := openQueue(t, t.TempDir())
	rc := newReceiver(t, "k", nil)
	cfg := testConfig(Endpoint{URL: rc.srv.URL, Secret: "k", Filter: events.Filter{
		Types: []events.Type{events.Bounced}, Names: []string{"billing"},
	}})
	s := startSender(t, cfg, q)
	appendEvents(t, q, 5, events.Delivered, billing, time.Now())
	want := appendEvents(t, q, 2, events.Bounced, billing, time.Now())
	appendEvents(t, q, 3, events.Bounced, events.Owner{Kind: events.KindSMTP, Name: "other"}, time.Now())
	appendEvents(t, q, 1, events.Bounced, events.Owner{}, time.Now())
	last := appendEvents(t, q, 1, events.Bounced, events.Owner{Kind: events.KindSMTP, Name: "billing"}, time.Now())
	want = append(want, last...)
	testwait.For(t, 30*time.Second, "the matching events", func() bool { return len(rc.got()) >= 3 })
	testwait.For(t, 30*time.Second, "the position past the skipped events", func() bool { return s.Status()[0].Backlog == 0 })
	if got := rc.got(); !slices.Equal(got, want) {
		t.Errorf("received %v, want %v", got, want)
	}
}

// Events older than the retention are dropped instead of being posted.
func TestSender_DropsExpiredEvents(t *testing.T) {
	t.Parallel()
	q := openQueue(t, t.TempDir())
	rc := newReceiver(t, "k", nil)
	cfg := testConfig(Endpoint{URL: rc.srv.URL, Secret: "k"})
	s := startSender(t, cfg, q)
	appendEvents(t, q, 2, events.Deferred, billing, time.Now().Add(-2*time.Hour))
	want := appendEvents(t, q, 1, events.Delivered, billing, time.Now())
	testwait.For(t, 30*time.Second, "the fresh event", func() bool { return len(rc.got()) >= 1 })
	testwait.For(t, 30*time.Second, "the position past every event", func() bool { return s.Status()[0].Backlog == 0 })
	if got := rc.got(); !slices.Equal(got, want) {
		t.Errorf("received %v, want only %v", got, want)
	}
}

// A redirect is not followed and counts as a failure.
func TestSender_RedirectIsAFailure(t *testing.T) {
	t.Parallel()
	q := openQueue(t, t.TempDir())
	target := newReceiver(t, "k", nil)
	moved := newReceiver(t, "k", func(int, *http.Request) int { return http.StatusTemporaryRedirect })
	cfg := testConfig(Endpoint{URL: moved.srv.URL, Secret: "k"})
	obs := &observer{}
	cfg.Observer = obs
	s := startSender(t, cfg, q)
	appendEvents(t, q, 1, events.Delivered, billing, time.Now())
	testwait.For(t, 30*time.Second, "two tries", func() bool { return moved.postCount() >= 2 })
	if n := target.postCount(); n != 0 {
		t.Errorf("followed the redirect: %d POSTs elsewhere", n)
	}
	testwait.For(t, 30*time.Second, "a result", func() bool { return len(obs.of(s.eps[0].label)) >= 1 })
	if got := obs.of(s.eps[0].label); got[0] != ResultStatus {
		t.Errorf("results %v, want status", got)
	}
	if s.Status()[0].Backlog != 1 {
		t.Errorf("backlog %d, want 1", s.Status()[0].Backlog)
	}
}

func TestNextWait(t *testing.T) {
	t.Parallel()
	initial, max := 10*time.Second, 10*time.Minute
	var got []time.Duration
	w := time.Duration(0)
	for range 9 {
		w = nextWait(w, initial, max)
		got = append(got, w)
	}
	want := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second, 320 * time.Second, 10 * time.Minute, 10 * time.Minute, 10 * time.Minute}
	if !slices.Equal(got, want) {
		t.Errorf("backoff %v, want %v", got, want)
	}
}

func TestNew_RefusesBadConfig(t *testing.T) {
	t.Parallel()
	q := openQueue(t, t.TempDir())
	for _, cfg := range []Config{
		{BatchSize: 0, Timeout: time.Second, RetryInitial: time.Second, RetryMax: time.Second},
		{BatchSize: 1, Timeout: time.Second, RetryInitial: time.Second, RetryMax: time.Millisecond},
		{BatchSize: 1, Timeout: time.Second, RetryInitial: time.Second, RetryMax: time.Second, Endpoints: []Endpoint{{URL: "ftp://x/"}}},
	} {
		if _, err := New(cfg, q); err == nil {
			t.Errorf("accepted %+v", cfg)
		}
	}
}
