package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// QueueSnapshot is the queue's state at scrape time.
type QueueSnapshot struct {
	Ready, Deferred, Inflight, Held int64
	// Bytes is the total size of queued bodies.
	Bytes int64
	// Oldest is the arrival time of the oldest queued message; zero if empty.
	Oldest time.Time
	// QuarantinedTotal counts the unreadable message records moved aside
	// since the queue was opened.
	QuarantinedTotal int64
}

// queueCollector asks the queue at every scrape, so the gauges are exact.
type queueCollector struct {
	snapshot    func() QueueSnapshot
	now         func() time.Time
	depth       *prometheus.Desc
	oldest      *prometheus.Desc
	bytes       *prometheus.Desc
	quarantined *prometheus.Desc
}

// RegisterQueue registers the queue gauges (mxout_queue_messages{state},
// mxout_queue_oldest_message_age_seconds, mxout_queue_bytes) and the
// counter mxout_queue_quarantined_total, read from snapshot at every
// scrape.
func RegisterQueue(reg prometheus.Registerer, snapshot func() QueueSnapshot, now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	reg.MustRegister(&queueCollector{
		snapshot: snapshot,
		now:      now,
		depth: prometheus.NewDesc(namespace+"_queue_messages",
			"Messages in the queue by state: ready (waiting for a first attempt), deferred (waiting for a retry), inflight (being delivered), held (stopped by an operator).",
			[]string{"state"}, nil),
		oldest: prometheus.NewDesc(namespace+"_queue_oldest_message_age_seconds",
			"Age of the oldest message in the queue; 0 when the queue is empty.", nil, nil),
		bytes: prometheus.NewDesc(namespace+"_queue_bytes",
			"Total size of the message bodies in the queue.", nil, nil),
		quarantined: prometheus.NewDesc(namespace+"_queue_quarantined_total",
			"Message records that could not be read and were moved aside (quarantined) instead of stopping the queue; mxout queue list --state quarantined shows them.", nil, nil),
	})
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.depth
	ch <- c.oldest
	ch <- c.bytes
	ch <- c.quarantined
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.snapshot()
	for _, st := range []struct {
		name string
		n    int64
	}{{"ready", s.Ready}, {"deferred", s.Deferred}, {"inflight", s.Inflight}, {"held", s.Held}} {
		ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(st.n), st.name)
	}
	age := 0.0
	if !s.Oldest.IsZero() {
		age = max(c.now().Sub(s.Oldest).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, age)
	ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(s.Bytes))
	ch <- prometheus.MustNewConstMetric(c.quarantined, prometheus.CounterValue, float64(s.QuarantinedTotal))
}
