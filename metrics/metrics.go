package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

const namespace = "mxout"

// Label values of the bounded label sets.
const (
	ResultDelivered = "delivered"
	ResultDeferred  = "deferred"
	ResultBounced   = "bounced"

	SideSubmission = "submission"
	SideDelivery   = "delivery"

	BounceFailure = "failure"
	BounceDelay   = "delay"
	BounceSuccess = "success"

	TLSEstablished = "tls"       // the session was encrypted
	TLSPlaintext   = "plaintext" // no TLS: not offered, or disabled by policy
	TLSFailed      = "failed"    // the handshake failed (retried in plaintext when TLS is optional)
	TLSFailure     = "failure"   // the session did not meet its DANE or MTA-STS policy (refused, or only reported in testing)
)

// Values of the policy label of outbound_tls_total: the TLS policy a
// session was held to (package tlspolicy's kinds).
const (
	TLSPolicyDANE          = "dane"
	TLSPolicyMTASTS        = "mta-sts"
	TLSPolicyMTASTSTesting = "mta-sts-testing"
	TLSPolicyRequired      = "required"
	TLSPolicyOpportunistic = "opportunistic"
)

// tlsPolicies and tlsResults are the label values outbound_tls_total
// takes, all pre-created.
var (
	tlsPolicies = []string{TLSPolicyDANE, TLSPolicyMTASTS, TLSPolicyMTASTSTesting, TLSPolicyRequired, TLSPolicyOpportunistic}
	tlsResults  = []string{TLSEstablished, TLSPlaintext, TLSFailed, TLSFailure}
)

// Values of the defence label of delivery_defences_total: what delivery
// refused to do because a remote peer or a DNS answer asked for it.
const (
	// DefenceNonGlobalAddress: an MX-derived address that is not global
	// unicast (outside delivery.allowed_networks) was skipped.
	DefenceNonGlobalAddress = "non_global_address"
	// DefenceReplyTooLong: a server broke a reply limit (a line over 2,000
	// octets, a reply over 100 lines or 64 KiB); its session was ended.
	DefenceReplyTooLong = "reply_too_long"
	// DefenceMXLimit: an MX walk stopped at delivery.max_mx_addresses or
	// delivery.max_mx_sessions with hosts left untried.
	DefenceMXLimit = "mx_limit"
	// DefenceAttemptDeadline: an attempt ran past delivery.timeouts.attempt
	// and was cut.
	DefenceAttemptDeadline = "attempt_deadline"
	// DefenceCertificateNotVerified: a certificate that had to be verified
	// (delivery.tls required, or a smarthost with credentials) was not;
	// the mail was deferred and no credentials were sent.
	DefenceCertificateNotVerified = "certificate_not_verified"
)

// defences are the values of the defence label, pre-created.
var defences = []string{DefenceNonGlobalAddress, DefenceReplyTooLong, DefenceMXLimit, DefenceAttemptDeadline, DefenceCertificateNotVerified}

// replyClasses are the values of the class label of remote_replies_total.
var replyClasses = []string{"2xx", "4xx", "5xx"}

// Options tunes what New builds.
type Options struct {
	// Domains are the destination domains that get their own value of the
	// domain label (of deliveries_total and remote_replies_total); every
	// other domain is counted as "other". Keep the list short: each entry
	// adds a handful of series.
	Domains []string
}

// Metrics holds every instrument. Build one per process with New.
type Metrics struct {
	// MessagesAccepted counts messages answered with 250 at submission.
	MessagesAccepted prometheus.Counter
	// MessagesRejected counts refused transactions by reason (a small fixed set).
	MessagesRejected *prometheus.CounterVec
	// Deliveries counts per-recipient outcomes of delivery attempts.
	Deliveries *prometheus.CounterVec
	// AttemptDuration observes one SMTP delivery attempt, connect to reply.
	AttemptDuration prometheus.Histogram
	// DeliveryLatency observes acceptance to final state, per recipient.
	DeliveryLatency prometheus.Histogram
	// BouncesSent counts generated DSNs by type (failure, delay, success).
	BouncesSent *prometheus.CounterVec
	// SessionsActive is the number of open SMTP sessions per side.
	SessionsActive *prometheus.GaugeVec
	// AuthFailures counts failed AUTH attempts at submission.
	AuthFailures prometheus.Counter
	// DNSLookups counts DNS queries by type and result.
	DNSLookups *prometheus.CounterVec
	// DNSDuration observes DNS query latency by type.
	DNSDuration *prometheus.HistogramVec
	// OutboundTLS counts outbound sessions by TLS outcome.
	OutboundTLS *prometheus.CounterVec
	// RemoteReplies counts remote SMTP replies by class (2xx, 4xx, 5xx).
	RemoteReplies *prometheus.CounterVec
	// DeliveryDefences counts outbound defences that fired, by defence.
	DeliveryDefences *prometheus.CounterVec
	// DKIMSignatures counts signing decisions by signing domain and result.
	DKIMSignatures *prometheus.CounterVec
	// ConfigReloadSuccessful is 1 when the last config load (the start or
	// a SIGHUP) was taken by every part, else 0.
	ConfigReloadSuccessful prometheus.Gauge
	// ConfigReloadSuccessTime is when the config was last loaded
	// successfully.
	ConfigReloadSuccessTime prometheus.Gauge

	domains domainSet
}

// mailBuckets span 10 ms to 24 h: a delivery can take milliseconds on a
// LAN or a day of retries.
var mailBuckets = []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 24 * 3600}

// New builds the instruments with no domain broken out and registers
// them, with Go runtime and process collectors, on reg.
func New(reg prometheus.Registerer) *Metrics { return NewWithOptions(reg, Options{}) }

// Discard returns Metrics registered nowhere, for a part built without
// metrics (a test, a command that serves none): it counts into
// instruments nobody reads, so that no call site checks for nil.
func Discard() *Metrics { return New(discard{}) }

// discard is a prometheus.Registerer that keeps nothing.
type discard struct{}

func (discard) Register(prometheus.Collector) error  { return nil }
func (discard) MustRegister(...prometheus.Collector) {}
func (discard) Unregister(prometheus.Collector) bool { return true }

// NewWithOptions is New with options.
func NewWithOptions(reg prometheus.Registerer, o Options) *Metrics {
	m := &Metrics{
		domains: newDomainSet(o.Domains),
		MessagesAccepted: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "messages_accepted_total",
			Help: "Messages accepted at submission (answered 250 after being synced to disk).",
		}),
		MessagesRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "messages_rejected_total",
			Help: "Submission commands refused, by reason.",
		}, []string{"reason"}),
		Deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "deliveries_total",
			Help: "Per-recipient delivery attempt outcomes (delivered, deferred or bounced), by recipient domain (metrics.domains, else other).",
		}, []string{"result", "domain"}),
		AttemptDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "delivery_attempt_duration_seconds",
			Help:    "Duration of one outbound SMTP transaction attempt, from connect to the final reply.",
			Buckets: mailBuckets,
		}),
		DeliveryLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "delivery_latency_seconds",
			Help:    "Time from acceptance to a final state (delivered or bounced), per recipient.",
			Buckets: mailBuckets,
		}),
		BouncesSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "bounces_sent_total",
			Help: "Delivery status notifications generated, by type: failure, delay or success.",
		}, []string{"type"}),
		SessionsActive: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "smtp_sessions_active",
			Help: "Open SMTP sessions, by side: submission (inbound) or delivery (outbound).",
		}, []string{"side"}),
		AuthFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "auth_failures_total",
			Help: "Failed AUTH attempts at submission.",
		}),
		DNSLookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "dns_lookups_total",
			Help: "DNS queries, by record type and result.",
		}, []string{"type", "result"}),
		DNSDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "dns_lookup_duration_seconds",
			Help:    "DNS query latency, by record type.",
			Buckets: []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}, []string{"type"}),
		OutboundTLS: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "outbound_tls_total",
			Help: "Outbound SMTP sessions opened, by TLS policy (dane, mta-sts, mta-sts-testing, required, opportunistic) and outcome: tls, plaintext, failed (a failed handshake; retried in plaintext when TLS is optional), failure (the DANE or MTA-STS policy was not met: refused, or only reported in testing).",
		}, []string{"policy", "result"}),
		RemoteReplies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "remote_replies_total",
			Help: "Remote SMTP replies that decided a recipient's delivery attempt, by class (2xx, 4xx, 5xx) and recipient domain (metrics.domains, else other).",
		}, []string{"class", "domain"}),
		DeliveryDefences: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "delivery_defences_total",
			Help: "Outbound defences that fired, by defence (see docs/security.md): non_global_address (an MX address outside delivery.allowed_networks was skipped), reply_too_long (a session ended on an oversized reply), mx_limit (an MX walk stopped at max_mx_addresses or max_mx_sessions), attempt_deadline (an attempt cut at delivery.timeouts.attempt), certificate_not_verified (a certificate that had to verify did not; deferred, no AUTH sent).",
		}, []string{"defence"}),
		DKIMSignatures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "dkim_signatures_total",
			Help: "DKIM signing decisions, by signing domain (metrics.domains, else other) and result: signed, failed, no_key (the domain has no key: unsigned, or refused under dkim.require), not_allowed (a key the user may not sign with: refused).",
		}, []string{"domain", "result"}),
		ConfigReloadSuccessful: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "config_last_reload_successful",
			Help: "1 when the last load of the config (the start, or a reload on SIGHUP) was taken by every part, 0 when the file did not load or a part refused it.",
		}),
		ConfigReloadSuccessTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "config_last_reload_success_timestamp_seconds",
			Help: "When the config was last loaded successfully (the start, or a reload on SIGHUP), in seconds since the epoch.",
		}),
	}
	reg.MustRegister(
		m.MessagesAccepted, m.MessagesRejected, m.Deliveries, m.AttemptDuration,
		m.DeliveryLatency, m.BouncesSent, m.SessionsActive, m.AuthFailures,
		m.DNSLookups, m.DNSDuration, m.OutboundTLS, m.RemoteReplies, m.DeliveryDefences,
		m.DKIMSignatures, m.ConfigReloadSuccessful, m.ConfigReloadSuccessTime,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	// Pre-create the bounded series so dashboards see zeros, not gaps.
	for _, d := range m.domains.values() {
		for _, r := range []string{ResultDelivered, ResultDeferred, ResultBounced} {
			m.Deliveries.WithLabelValues(r, d)
		}
		for _, c := range replyClasses {
			m.RemoteReplies.WithLabelValues(c, d)
		}
		for _, r := range dkimResults {
			m.DKIMSignatures.WithLabelValues(d, r)
		}
	}
	for _, s := range []string{SideSubmission, SideDelivery} {
		m.SessionsActive.WithLabelValues(s)
	}
	for _, t := range []string{BounceFailure, BounceDelay, BounceSuccess} {
		m.BouncesSent.WithLabelValues(t)
	}
	for _, p := range tlsPolicies {
		for _, r := range tlsResults {
			m.OutboundTLS.WithLabelValues(p, r)
		}
	}
	for _, d := range defences {
		m.DeliveryDefences.WithLabelValues(d)
	}
	return m
}

// Delivery counts one recipient's attempt outcome (ResultDelivered,
// ResultDeferred or ResultBounced) under its domain's label.
func (m *Metrics) Delivery(result, rcptDomain string) {
	m.Deliveries.WithLabelValues(result, m.Domain(rcptDomain)).Inc()
}

// RemoteReply counts the remote reply code that decided one recipient's
// attempt; codes outside 2xx, 4xx and 5xx are not counted.
func (m *Metrics) RemoteReply(code int, rcptDomain string) {
	if class := ReplyClass(code); class != "" {
		m.RemoteReplies.WithLabelValues(class, m.Domain(rcptDomain)).Inc()
	}
}

// ObserveLookup records one DNS query; it satisfies resolver.Observer.
func (m *Metrics) ObserveLookup(qtype, result string, d time.Duration) {
	m.DNSLookups.WithLabelValues(qtype, result).Inc()
	m.DNSDuration.WithLabelValues(qtype).Observe(d.Seconds())
}

// ReplyClass maps an SMTP reply code to its class label ("2xx", "4xx",
// "5xx"); other codes give "".
func ReplyClass(code int) string {
	switch code / 100 {
	case 2:
		return "2xx"
	case 4:
		return "4xx"
	case 5:
		return "5xx"
	}
	return ""
}
