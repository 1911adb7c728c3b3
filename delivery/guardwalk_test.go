package delivery

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/internal/testlog"
	"github.com/mxout/mxout/metrics"
	"github.com/mxout/mxout/queue"
	"github.com/mxout/mxout/resolver/dnstest"
)

// An MX on loopback is internal to this host: without
// delivery.allowed_networks the recipient fails with 5.4.6 and a log line
// says why, and nothing is dialed.
func TestDeliver_NonGlobalMXBounces(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	mx := w.mx("internal.example", 10, smtptest.Options{})
	w.cfg.AllowedNetworks = nil
	dialer := &recordingDialer{}
	w.cfg.Dialer = dialer
	logs := &testlog.Buffer{}
	w.cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	m := metrics.New(prometheus.NewRegistry())
	w.cfg.Metrics = m
	w.start()
	id := w.enqueue("app@sender.example", "u@internal.example")
	r := w.waitFinal(id, 1, 10*time.Second)["u@internal.example"]
	if r.State != queue.Failed || r.Status != "5.4.6" || !strings.Contains(r.Response, "is a loopback address, not global unicast (not in delivery.allowed_networks)") {
		t.Errorf("result = %+v, want a 5.4.6 failure saying why", r)
	}
	if got := dialer.addresses(); len(got) != 0 || mx.Connections() != 0 {
		t.Errorf("dialed %v (%d connections at the MX); want nothing", got, mx.Connections())
	}
	if !strings.Contains(logs.String(), "skipped MX addresses the relay must not connect to") ||
		!strings.Contains(logs.String(), "delivery.allowed_networks") {
		t.Errorf("no log line says why:\n%s", logs.String())
	}
	waitMetric(t, "non_global_address defences", m.DeliveryDefences.WithLabelValues(metrics.DefenceNonGlobalAddress), 1)
}

// A private address is skipped as if absent: the walk goes on to the next
// MX host, and the recipient is delivered there.
func TestDeliver_NonGlobalAddressSkipped(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.addMX("mixed.example", 5, "internal.mixed.example")
	w.dns.Set("internal.mixed.example", dnstest.Record{Type: "A", Value: "10.20.30.40"})
	mx := w.mx("mixed.example", 10, smtptest.Options{})
	dialer := &recordingDialer{}
	w.cfg.Dialer = dialer
	w.start()
	id := w.enqueue("app@sender.example", "u@mixed.example")
	if r := w.waitFinal(id, 1, 10*time.Second)["u@mixed.example"]; r.State != queue.Delivered {
		t.Fatalf("result = %+v", r)
	}
	for _, a := range dialer.addresses() {
		if strings.HasPrefix(a, "10.") {
			t.Errorf("dialed %s, a private address outside delivery.allowed_networks", a)
		}
	}
	if n := mx.MessageCount(); n != 1 {
		t.Errorf("the second MX got %d messages, want 1", n)
	}
}

// A temporary failure of another MX host outweighs a refused address:
// the recipient is deferred, not bounced.
func TestDeliver_NonGlobalWithBrokenMXHostDefers(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.addMX("half.example", 5, "unresolvable.half.example") // no records: the lookup fails
	w.addMX("half.example", 10, "internal.half.example")
	w.dns.Set("internal.half.example", dnstest.Record{Type: "A", Value: "192.168.1.25"})
	w.cfg.Dialer = &recordingDialer{}
	w.start()
	id := w.enqueue("app@sender.example", "u@half.example")
	if r := w.firstResult(id, "u@half.example"); r.State != queue.Pending || r.Status != "4.4.3" {
		t.Errorf("result = %+v, want a 4.4.3 deferral", r)
	}
}

// An explicit smarthost is trusted as configured, on loopback too.
func TestDeliver_SmarthostIsTrusted(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	relay := smtptest.NewServer(t, smtptest.Options{Addr: w.net.Addr(w.net.NextIP())})
	w.cfg.AllowedNetworks = nil
	w.cfg.Smarthost = Smarthost{Address: hostPort(t, relay.Addr()), TLS: configs.TLSNone}
	w.start()
	id := w.enqueue("app@sender.example", "u@anywhere.example")
	if r := w.waitFinal(id, 1, 10*time.Second)["u@anywhere.example"]; r.State != queue.Delivered {
		t.Fatalf("result = %+v", r)
	}
}
