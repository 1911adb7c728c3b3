package delivery

import (
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/internal/testlog"
	"github.com/mxout/mxout/internal/testwait"
	"github.com/mxout/mxout/metrics"
)

// waitMetric polls c until it reaches want: results are counted just
// after the queue records them, which is what waitFinal waits for.
func waitMetric(t *testing.T, name string, c prometheus.Collector, want float64) {
	t.Helper()
	testwait.Until(5*time.Second, func() bool { return testutil.ToFloat64(c) == want })
	if got := testutil.ToFloat64(c); got != want {
		t.Errorf("%s = %v, want %v", name, got, want)
	}
}

func TestMetrics_OutcomesRepliesAndLogLinesAgree(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ok := w.mx("ok.example", 10, smtptest.Options{})
	slow := w.mx("slow.example", 10, smtptest.Options{})
	slow.SetRcptFunc(func(_ string, attempt int) *smtptest.Reply {
		if attempt == 1 {
			return &smtptest.Reply{Code: 451, Enhanced: [3]int{4, 7, 1}, Message: "greylisted"}
		}
		return nil
	})
	bad := w.mx("bad.example", 10, smtptest.Options{})
	bad.SetRcpt("gone@bad.example", &smtptest.Reply{Code: 550, Enhanced: [3]int{5, 1, 1}, Message: "no such user"})
	m := metrics.NewWithOptions(prometheus.NewRegistry(), metrics.Options{Domains: []string{"ok.example"}})
	logs := &testlog.Buffer{}
	w.cfg.Metrics = m
	w.cfg.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	w.start()
	id := w.enqueue("app@sender.example", "a@ok.example", "b@ok.example", "c@slow.example", "gone@bad.example")
	w.waitFinal(id, 4, 10*time.Second)

	for _, c := range []struct {
		result, domain string
		want           float64
	}{
		{metrics.ResultDelivered, "ok.example", 2},
		{metrics.ResultDeferred, "ok.example", 0},
		{metrics.ResultBounced, "ok.example", 0},
		{metrics.ResultDelivered, metrics.DomainOther, 1}, // c@slow.example
		{metrics.ResultDeferred, metrics.DomainOther, 1},  // c@slow.example, first attempt
		{metrics.ResultBounced, metrics.DomainOther, 1},   // gone@bad.example
	} {
		waitMetric(t, "deliveries_total{"+c.result+","+c.domain+"}", m.Deliveries.WithLabelValues(c.result, c.domain), c.want)
	}
	for _, c := range []struct {
		class, domain string
		want          float64
	}{
		{"2xx", "ok.example", 2}, {"4xx", "ok.example", 0}, {"5xx", "ok.example", 0},
		{"2xx", metrics.DomainOther, 1}, {"4xx", metrics.DomainOther, 1}, {"5xx", metrics.DomainOther, 1},
	} {
		waitMetric(t, "remote_replies_total{"+c.class+","+c.domain+"}", m.RemoteReplies.WithLabelValues(c.class, c.domain), c.want)
	}
	waitMetric(t, "outbound_tls_total{plaintext}", m.OutboundTLS.WithLabelValues(metrics.TLSPolicyOpportunistic, metrics.TLSPlaintext),
		float64(ok.Connections()+slow.Connections()+bad.Connections()))
	// One transaction to ok.example, two to slow.example, one to bad.example.
	if got := histogramCount(t, m.AttemptDuration); got != 4 {
		t.Errorf("attempt duration observations = %d, want 4 transactions", got)
	}
	if got := histogramCount(t, m.DeliveryLatency); got != 4 {
		t.Errorf("delivery latency observations = %d, want 4 final recipients", got)
	}

	// One log line per recipient and attempt, with the reply code that
	// remote_replies_total counted.
	codes := map[string][]int{}
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var raw map[string]any
		if err := json.Unmarshal([]byte(line), &raw); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if raw["msg"] != "delivery attempt" {
			continue
		}
		to, _ := raw["to"].(string)
		code, _ := raw["code"].(float64)
		if raw["queue_id"] != string(id) || raw["relay"] == nil || raw["tls"] == nil || raw["delays"] == nil || raw["response"] == nil {
			t.Errorf("attempt line lacks a field: %s", line)
		}
		codes[to] = append(codes[to], int(code))
	}
	want := map[string][]int{"a@ok.example": {250}, "b@ok.example": {250}, "c@slow.example": {451, 250}, "gone@bad.example": {550}}
	for to, w := range want {
		if got := codes[to]; !slices.Equal(got, w) {
			t.Errorf("attempt lines for %s have codes %v, want %v", to, got, w)
		}
	}
}

func histogramCount(t *testing.T, h prometheus.Histogram) uint64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(h)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return mfs[0].GetMetric()[0].GetHistogram().GetSampleCount()
}

func TestMetrics_FailedHandshakeCountedUnderEveryPolicy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                  string
		policy                configs.TLSPolicy
		wantFailed, wantPlain float64
	}{
		{name: "opportunistic falls back to plaintext", policy: configs.TLSOpportunistic, wantFailed: 1, wantPlain: 1},
		{name: "required defers", policy: configs.TLSRequired, wantFailed: 1, wantPlain: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			w.mx("badtls.example", 10, smtptest.Options{BrokenTLS: true})
			m := metrics.New(prometheus.NewRegistry())
			w.cfg.Metrics = m
			w.cfg.TLS = tt.policy
			w.start()
			id := w.enqueue("app@sender.example", "u@badtls.example")
			w.firstResult(id, "u@badtls.example")
			label := string(tt.policy) // the policy label of delivery.tls required and opportunistic
			waitMetric(t, "outbound_tls_total{failed}", m.OutboundTLS.WithLabelValues(label, metrics.TLSFailed), tt.wantFailed)
			waitMetric(t, "outbound_tls_total{plaintext}", m.OutboundTLS.WithLabelValues(label, metrics.TLSPlaintext), tt.wantPlain)
			if got := testutil.ToFloat64(m.OutboundTLS.WithLabelValues(label, metrics.TLSEstablished)); got != 0 {
				t.Errorf("outbound_tls_total{tls} = %v after a broken handshake", got)
			}
		})
	}
}
