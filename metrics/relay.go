package metrics

import (
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Values of the result label of mxout_dkim_signatures_total: what became
// of a message whose signing domain was looked up (a relay without DKIM
// keys counts nothing).
const (
	// DKIMSigned: the message got its domain's signatures.
	DKIMSigned = "signed"
	// DKIMFailed: signing failed (a key that cannot sign, a header that
	// cannot be signed); the message was refused, a bounce sent unsigned.
	DKIMFailed = "failed"
	// DKIMNoKey: the signing domain has no key; sent unsigned, or refused
	// when dkim.require is set.
	DKIMNoKey = "no_key"
	// DKIMNotAllowed: the domain has a key the authenticated user may not
	// sign with; refused.
	DKIMNotAllowed = "not_allowed"
)

// dkimResults are the values of the result label, pre-created.
var dkimResults = []string{DKIMSigned, DKIMFailed, DKIMNoKey, DKIMNotAllowed}

// ObserveDKIM counts one signing decision for a signing domain, under its
// domain label (Options.Domains, else other).
func (m *Metrics) ObserveDKIM(domain, result string) {
	m.DKIMSignatures.WithLabelValues(m.Domain(domain), result).Inc()
}

// ConfigReloaded records a reload of the config (SIGHUP): whether every
// part took it, and when, which the success time keeps only if it did.
// The start counts as the first successful load.
func (m *Metrics) ConfigReloaded(ok bool, at time.Time) {
	if !ok {
		m.ConfigReloadSuccessful.Set(0)
		return
	}
	m.ConfigReloadSuccessful.Set(1)
	m.ConfigReloadSuccessTime.Set(float64(at.UnixNano()) / 1e9)
}

// Build names the running binary.
type Build struct {
	Version, Commit string
}

// RegisterBuildInfo registers mxout_build_info: always 1, its labels name
// the version, the commit and the Go version the binary was built with.
func RegisterBuildInfo(reg prometheus.Registerer, b Build) {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "build_info",
		Help:        "Always 1; the labels name the running binary: its version, commit and Go version.",
		ConstLabels: prometheus.Labels{"version": b.Version, "commit": b.Commit, "goversion": runtime.Version()},
	})
	g.Set(1)
	reg.MustRegister(g)
}

// Certificate is the certificate a TLS listener serves now.
type Certificate struct {
	// Listener is the listener's configured address.
	Listener string
	NotAfter time.Time
}

// RegisterCertificates registers
// mxout_tls_certificate_expiry_timestamp_seconds{listener}, read from
// certs at every scrape, so a certificate reloaded on SIGHUP or on change
// is seen at once.
func RegisterCertificates(reg prometheus.Registerer, certs func() []Certificate) {
	reg.MustRegister(&certCollector{certs: certs, desc: prometheus.NewDesc(namespace+"_tls_certificate_expiry_timestamp_seconds",
		"When the certificate a submission listener serves expires (its NotAfter), in seconds since the epoch, by listener address.",
		[]string{"listener"}, nil)})
}

type certCollector struct {
	certs func() []Certificate
	desc  *prometheus.Desc
}

func (c *certCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *certCollector) Collect(ch chan<- prometheus.Metric) {
	for _, cert := range c.certs() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(cert.NotAfter.Unix()), cert.Listener)
	}
}

// RegisterDestinations registers mxout_destinations_dead, read from dead
// at every scrape.
func RegisterDestinations(reg prometheus.Registerer, dead func() int) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Name: "destinations_dead",
		Help: "Destinations held off as dead now: after delivery.dead_destination.failures failures in a row their mail is deferred without connecting for delivery.dead_destination.hold.",
	}, func() float64 { return float64(dead()) }))
}

// RegisterMaxLifetime registers mxout_delivery_max_lifetime_seconds, the
// configured delivery.retry.max_lifetime, so that alerts can judge a
// message's age against it (a message that has waited half of it is
// late; one that waits an hour for greylisting is not).
func RegisterMaxLifetime(reg prometheus.Registerer, d time.Duration) {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "delivery_max_lifetime_seconds",
		Help: "delivery.retry.max_lifetime: how long a message is retried before its undelivered recipients bounce.",
	})
	g.Set(d.Seconds())
	reg.MustRegister(g)
}
