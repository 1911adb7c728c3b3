package metrics

import "github.com/prometheus/client_golang/prometheus"

// RegisterReady registers mxout_ready, asked at every scrape: 1 when ready
// reports nil (the answer /readyz gives 200 for), else 0. It lets alerts
// see readiness without a separate probe of /readyz.
func RegisterReady(reg prometheus.Registerer, ready func() error) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Name: "ready",
		Help: "1 when the relay is ready to take mail (queue writable, submission listeners serving, not shutting down; /readyz answers 200), else 0.",
	}, func() float64 {
		if ready() != nil {
			return 0
		}
		return 1
	}))
}
