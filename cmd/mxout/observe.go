package main

import (
	"time"

	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/metrics"
	"github.com/prometheus/client_golang/prometheus"
)

// observe registers the metrics about the relay itself once its parts
// have started: the build, the listeners' certificates, the dead
// destinations, the message lifetime (for alerts on age) and the state
// of the config, which counts the start as its first successful load.
func (r *relay) observe(reg prometheus.Registerer, m *metrics.Metrics) {
	b := currentBuild()
	metrics.RegisterBuildInfo(reg, metrics.Build{Version: b.version, Commit: b.commit})
	if certs := r.certs; certs != nil {
		var tlsListeners []string
		for _, l := range r.cfg.Submission.Listeners {
			if l.TLS != configs.TLSNone {
				tlsListeners = append(tlsListeners, l.Address.String())
			}
		}
		metrics.RegisterCertificates(reg, func() []metrics.Certificate {
			out := make([]metrics.Certificate, len(tlsListeners))
			notAfter := certs.NotAfter() // one store serves every TLS listener
			for i, l := range tlsListeners {
				out[i] = metrics.Certificate{Listener: l, NotAfter: notAfter}
			}
			return out
		})
	}
	metrics.RegisterDestinations(reg, r.engine.DeadDestinations)
	metrics.RegisterMaxLifetime(reg, r.cfg.Delivery.Retry.MaxLifetime)
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	r.m = m
	r.reloaded(true)
}

// reloaded records the outcome of a load of the config in the metrics;
// r.reloadMu must be held. Before the parts have started there are none.
func (r *relay) reloaded(ok bool) {
	if r.m != nil {
		r.m.ConfigReloaded(ok, time.Now())
	}
}
