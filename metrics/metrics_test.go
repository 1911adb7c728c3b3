package metrics

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
)

func TestRegistry_LintsClean(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	New(reg)
	RegisterQueue(reg, func() QueueSnapshot { return QueueSnapshot{} }, nil)
	RegisterReady(reg, func() error { return nil })
	problems, err := promlint.NewWithMetricFamilies(mustGather(t, reg)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

func TestNew_TwiceInOneProcess(t *testing.T) {
	t.Parallel()
	// Two relays in one test binary must not collide on a global registry.
	New(prometheus.NewRegistry())
	New(prometheus.NewRegistry())
}

func TestQueueCollector_ExactAtScrape(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	snap := QueueSnapshot{Ready: 3, Deferred: 2, Inflight: 1, Held: 4, Bytes: 1234, Oldest: now.Add(-90 * time.Second), QuarantinedTotal: 2}
	RegisterQueue(reg, func() QueueSnapshot { return snap }, func() time.Time { return now })
	want := `
# HELP mxout_queue_messages Messages in the queue by state: ready (waiting for a first attempt), deferred (waiting for a retry), inflight (being delivered), held (stopped by an operator).
# TYPE mxout_queue_messages gauge
mxout_queue_messages{state="deferred"} 2
mxout_queue_messages{state="held"} 4
mxout_queue_messages{state="inflight"} 1
mxout_queue_messages{state="ready"} 3
# HELP mxout_queue_oldest_message_age_seconds Age of the oldest message in the queue; 0 when the queue is empty.
# TYPE mxout_queue_oldest_message_age_seconds gauge
mxout_queue_oldest_message_age_seconds 90
# HELP mxout_queue_quarantined_total Message records that could not be read and were moved aside (quarantined) instead of stopping the queue; mxout queue list --state quarantined shows them.
# TYPE mxout_queue_quarantined_total counter
mxout_queue_quarantined_total 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "mxout_queue_messages", "mxout_queue_oldest_message_age_seconds", "mxout_queue_quarantined_total"); err != nil {
		t.Error(err)
	}
	snap = QueueSnapshot{}
	if v := testutil.ToFloat64(collectorFor(t, reg, "mxout_queue_oldest_message_age_seconds")); v != 0 {
		t.Errorf("empty queue oldest age = %v", v)
	}
}

func collectorFor(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	for _, mf := range mustGather(t, reg) {
		if mf.GetName() == name {
			return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "x", Help: "x"}, func() float64 {
				return mf.GetMetric()[0].GetGauge().GetValue()
			})
		}
	}
	t.Fatalf("no metric %s", name)
	return nil
}

func mustGather(t *testing.T, g prometheus.Gatherer) []*dto.MetricFamily {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

func TestServer_Endpoints(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := New(reg)
	m.MessagesAccepted.Add(3)
	var notReady atomic.Pointer[error]
	ready := func() error {
		if e := notReady.Load(); e != nil {
			return *e
		}
		return nil
	}
	RegisterReady(reg, ready)
	s := NewServer(reg, ready, ServerOptions{})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l)
	defer s.Shutdown(context.Background())
	base := "http://" + l.Addr().String()
	body, code := get(t, base+"/metrics")
	if code != 200 || !strings.Contains(body, "mxout_messages_accepted_total 3") || !strings.Contains(body, "go_goroutines") {
		t.Errorf("/metrics = %d\n%s", code, body)
	}
	if _, code := get(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz = %d", code)
	}
	if _, code := get(t, base+"/readyz"); code != 200 {
		t.Errorf("/readyz = %d", code)
	}
	diskFull := errors.New("disk full")
	notReady.Store(&diskFull)
	if body, code := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "disk full") {
		t.Errorf("/readyz when not ready = %d %q", code, body)
	}
	if body, _ := get(t, base+"/metrics"); !strings.Contains(body, "\nmxout_ready 0\n") {
		t.Errorf("mxout_ready is not 0 while not ready:\n%s", body)
	}
	notReady.Store(nil)
	if body, _ := get(t, base+"/metrics"); !strings.Contains(body, "\nmxout_ready 1\n") {
		t.Errorf("mxout_ready is not 1 while ready:\n%s", body)
	}
}

func TestServer_PprofOnlyWhenEnabled(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		pprof bool
		want  int
	}{
		{name: "default off", pprof: false, want: http.StatusNotFound},
		{name: "metrics.pprof true", pprof: true, want: http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := NewServer(prometheus.NewRegistry(), func() error { return nil }, ServerOptions{Pprof: tt.pprof})
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go s.Serve(l)
			defer s.Shutdown(context.Background())
			for _, path := range []string{"/debug/pprof/", "/debug/pprof/goroutine?debug=1", "/debug/pprof/cmdline", "/debug/pprof/symbol"} {
				if body, code := get(t, "http://"+l.Addr().String()+path); code != tt.want {
					t.Errorf("GET %s = %d, want %d\n%.200s", path, code, tt.want, body)
				}
			}
		})
	}
}

func get(t *testing.T, url string) (string, int) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode
}

// Discard can be built any number of times (a registry would refuse the
// second set of names) and counts without panicking.
func TestDiscard(t *testing.T) {
	t.Parallel()
	a, b := Discard(), Discard()
	a.Delivery(ResultDelivered, "example.com")
	b.BouncesSent.WithLabelValues(BounceFailure).Inc()
	if got := testutil.ToFloat64(a.Deliveries.WithLabelValues(ResultDelivered, "other")); got != 1 {
		t.Errorf("a's deliveries = %v, want 1", got)
	}
	if got := testutil.ToFloat64(a.BouncesSent.WithLabelValues(BounceFailure)); got != 0 {
		t.Errorf("b's bounce counted in a: %v", got)
	}
}
