package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Apps holds the instruments of what applications use besides SMTP: the
// HTTP API, the delivery events and the webhooks. Build it with NewApps.
type Apps struct {
	// APIRequests counts the HTTP API's answers by status code.
	APIRequests *prometheus.CounterVec
	// Events counts the delivery events written, by type.
	Events *prometheus.CounterVec
	// WebhookPosts counts webhook POSTs by endpoint and result.
	WebhookPosts *prometheus.CounterVec
}

// The label values pre-created so that dashboards see zeros, not gaps.
var (
	apiCodes   = []int{200, 202, 400, 401, 403, 413, 500, 503}
	eventTypes = []string{"delivered", "deferred", "delayed", "bounced", "expired"}
	postResult = []string{"ok", "status", "timeout", "error"}
)

// NewApps builds the instruments and registers them on reg; endpoints are
// the webhook endpoints' labels (webhook.Endpoint.Label: a name, or the
// URL's scheme, host and port and a hash of the rest).
func NewApps(reg prometheus.Registerer, endpoints []string) *Apps {
	a := &Apps{
		APIRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "api_requests_total",
			Help: "Answers of the HTTP API (POST /v1/send, GET /v1/events), by status code: 202 queued, 400 bad request, 401 no or unknown token, 403 sender not allowed, 413 too big, 503 disk below its reserve.",
		}, []string{"code"}),
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "events_total",
			Help: "Delivery events written with the results they describe, by type: delivered, deferred, delayed, bounced, expired.",
		}, []string{"type"}),
		WebhookPosts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "webhook_posts_total",
			Help: "Webhook POSTs, by endpoint and result: ok (2xx, the batch is acknowledged), status (another status), timeout (no answer within webhooks.timeout), error (no connection).",
		}, []string{"endpoint", "result"}),
	}
	reg.MustRegister(a.APIRequests, a.Events, a.WebhookPosts)
	for _, c := range apiCodes {
		a.APIRequests.WithLabelValues(strconv.Itoa(c))
	}
	for _, t := range eventTypes {
		a.Events.WithLabelValues(t)
	}
	for _, e := range endpoints {
		for _, r := range postResult {
			a.WebhookPosts.WithLabelValues(e, r)
		}
	}
	return a
}

// Answered counts one answer of the HTTP API; it satisfies api.Observer.
func (a *Apps) Answered(status int) { a.APIRequests.WithLabelValues(strconv.Itoa(status)).Inc() }

// Posted counts one webhook POST; it satisfies webhook.Observer.
func (a *Apps) Posted(endpoint, result string) {
	a.WebhookPosts.WithLabelValues(endpoint, result).Inc()
}

// Event counts one delivery event written.
func (a *Apps) Event(typ string) { a.Events.WithLabelValues(typ).Inc() }

// WebhookStatus is one endpoint's backlog at scrape time.
type WebhookStatus struct {
	Endpoint string
	// Backlog counts the events written after the endpoint's
	// acknowledged position.
	Backlog int64
	// Oldest is the time of the oldest event posted and not yet
	// acknowledged; zero when the endpoint has caught up.
	Oldest time.Time
}

// webhookCollector asks the webhook sender at every scrape.
type webhookCollector struct {
	status  func() []WebhookStatus
	now     func() time.Time
	backlog *prometheus.Desc
	oldest  *prometheus.Desc
}

// RegisterWebhooks registers mxout_webhook_backlog{endpoint} and
// mxout_webhook_oldest_unacknowledged_age_seconds{endpoint}, read from
// status at every scrape.
func RegisterWebhooks(reg prometheus.Registerer, status func() []WebhookStatus, now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	reg.MustRegister(&webhookCollector{
		status: status,
		now:    now,
		backlog: prometheus.NewDesc(namespace+"_webhook_backlog",
			"Delivery events written after the endpoint's last acknowledged batch (including those its filter skips), by endpoint.",
			[]string{"endpoint"}, nil),
		oldest: prometheus.NewDesc(namespace+"_webhook_oldest_unacknowledged_age_seconds",
			"Age of the oldest event posted to the endpoint and not yet acknowledged; 0 when it has caught up.",
			[]string{"endpoint"}, nil),
	})
}

func (c *webhookCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.backlog
	ch <- c.oldest
}

func (c *webhookCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.now()
	for _, s := range c.status() {
		ch <- prometheus.MustNewConstMetric(c.backlog, prometheus.GaugeValue, float64(s.Backlog), s.Endpoint)
		age := 0.0
		if !s.Oldest.IsZero() {
			age = max(now.Sub(s.Oldest).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, age, s.Endpoint)
	}
}
