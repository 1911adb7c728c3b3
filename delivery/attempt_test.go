package delivery

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/metrics"
	"github.com/mxout/mxout/queue"
	"github.com/mxout/mxout/resolver/dnstest"
)

// A domain with 20 MX hosts of 10 addresses each, none of which takes a
// connection, used to cost 200 connection attempts in one round (with
// dropped packets, 200 connect timeouts). delivery.max_mx_addresses caps
// them; 0 is the old, unlimited walk.
func TestDeliver_MXAddressLimit(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ limit, wantDials int }{{5, 5}, {1, 1}, {0, 200}} {
		t.Run(fmt.Sprint("max_mx_addresses ", tt.limit), func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			w.oneAttempt()
			first := ""
			for h := range 20 {
				host := fmt.Sprintf("mx%02d.wide.example", h)
				w.addMX("wide.example", 10+h, host)
				var recs []dnstest.Record
				for range 10 {
					ip := w.net.NextIP() // nothing listens
					if first == "" {
						first = ip
					}
					recs = append(recs, dnstest.Record{Type: "A", Value: ip})
				}
				w.dns.Set(host, recs...)
			}
			dialer := &recordingDialer{}
			w.cfg.Dialer = dialer
			w.cfg.MaxMXAddresses = tt.limit
			m := metrics.New(prometheus.NewRegistry())
			w.cfg.Metrics = m
			w.start()
			id := w.enqueue("app@sender.example", "u@wide.example")
			if r := w.firstResult(id, "u@wide.example"); r.State != queue.Pending || r.Status != "4.4.1" {
				t.Errorf("result = %+v, want a 4.4.1 deferral", r)
			}
			dials := dialer.addresses()
			if len(dials) != tt.wantDials {
				t.Errorf("%d connection attempts, want %d", len(dials), tt.wantDials)
			}
			t.Logf("20 MX x 10 addresses, max_mx_addresses %d: %d connection attempts", tt.limit, len(dials))
			if len(dials) > 0 && dials[0] != w.net.Addr(first) {
				t.Errorf("first attempt %s, want the first address of the most preferred MX", dials[0])
			}
			wantStops := 0.0
			if tt.limit > 0 {
				wantStops = 1
			}
			if got := testutil.ToFloat64(m.DeliveryDefences.WithLabelValues(metrics.DefenceMXLimit)); got != wantStops {
				t.Errorf("mx_limit defences = %v, want %v", got, wantStops)
			}
		})
	}
}

// Servers that accept the connection and then refuse the session (421
// greeting) count towards delivery.max_mx_sessions.
func TestDeliver_MXSessionLimit(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ limit, wantBusy int }{{2, 2}, {0, 3}} {
		t.Run(fmt.Sprint("max_mx_sessions ", tt.limit), func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			w.oneAttempt()
			var mxs []*smtptest.Server
			for i := range 3 {
				mx := w.mx("busy.example", 10*(i+1), smtptest.Options{})
				mx.SetGreeting(&smtptest.Reply{Code: 421, Enhanced: [3]int{4, 3, 2}, Message: "busy"})
				mxs = append(mxs, mx)
			}
			w.cfg.MaxMXSessions = tt.limit
			w.start()
			id := w.enqueue("app@sender.example", "u@busy.example")
			if r := w.firstResult(id, "u@busy.example"); r.State != queue.Pending {
				t.Errorf("result = %+v, want a deferral", r)
			}
			contacted := 0
			for _, mx := range mxs {
				if mx.Connections() > 0 {
					contacted++
				}
			}
			if contacted != tt.wantBusy || mxs[0].Connections() == 0 {
				t.Errorf("%d MX hosts contacted, want the first %d", contacted, tt.wantBusy)
			}
		})
	}
}

// A server that drips every reply just fast enough for the step timeouts
// would hold a worker for as long as it likes: the attempt ends at
// delivery.timeouts.attempt, and the recipients are deferred.
func TestDeliver_AttemptDeadline(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.oneAttempt()
	mx := w.mx("slow.example", 10, smtptest.Options{})
	// Each RCPT reply takes ~4 s, well within the 5 s RCPT timeout.
	mx.SetHostile(&smtptest.Hostile{Stage: smtptest.AtRcpt, Mode: smtptest.Drip, Interval: 100 * time.Millisecond})
	w.cfg.Timeouts.Attempt = time.Second
	m := metrics.New(prometheus.NewRegistry())
	w.cfg.Metrics = m
	w.start()
	rcpts := []string{"a@slow.example", "b@slow.example", "c@slow.example"}
	id := w.enqueue("app@sender.example", rcpts...)
	for _, rc := range rcpts {
		r := w.firstResult(id, rc)
		if r.State != queue.Pending || r.Status != "4.4.2" || !strings.Contains(r.Response, "delivery.timeouts.attempt") {
			t.Errorf("%s: %+v, want a 4.4.2 deferral naming delivery.timeouts.attempt", rc, r)
		}
	}
	if n := mx.MessageCount(); n != 0 {
		t.Errorf("the slow MX got %d messages", n)
	}
	waitMetric(t, "attempt_deadline defences", m.DeliveryDefences.WithLabelValues(metrics.DefenceAttemptDeadline), 1)
}
