package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestApps(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	a := NewApps(reg, []string{"http://a/"})
	a.Answered(202)
	a.Answered(202)
	a.Posted("http://a/", "status")
	a.Event("delivered")
	if v := testutil.ToFloat64(a.APIRequests.WithLabelValues("202")); v != 2 {
		t.Errorf("202 answers %v", v)
	}
	if v := testutil.ToFloat64(a.WebhookPosts.WithLabelValues("http://a/", "status")); v != 1 {
		t.Errorf("posts %v", v)
	}
	if v := testutil.ToFloat64(a.Events.WithLabelValues("delivered")); v != 1 {
		t.Errorf("events %v", v)
	}
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	RegisterWebhooks(reg, func() []WebhookStatus {
		return []WebhookStatus{{Endpoint: "http://a/", Backlog: 7, Oldest: now.Add(-90 * time.Second)}, {Endpoint: "http://b/"}}
	}, func() time.Time { return now })
	fams := mustGather(t, reg)
	got := map[string]float64{}
	for _, mf := range fams {
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) == 1 && m.GetGauge() != nil {
				got[mf.GetName()+" "+m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
			}
		}
	}
	for k, want := range map[string]float64{
		"mxout_webhook_backlog http://a/": 7, "mxout_webhook_oldest_unacknowledged_age_seconds http://a/": 90,
		"mxout_webhook_backlog http://b/": 0, "mxout_webhook_oldest_unacknowledged_age_seconds http://b/": 0,
	} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}
}
