package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestDomain_BoundedLabel(t *testing.T) {
	t.Parallel()
	m := NewWithOptions(prometheus.NewRegistry(), Options{Domains: []string{"gmail.com", "Outlook.COM."}})
	tests := []struct{ domain, want string }{
		{domain: "gmail.com", want: "gmail.com"},
		{domain: "GMAIL.com", want: "gmail.com"},
		{domain: "gmail.com.", want: "gmail.com"},
		{domain: "outlook.com", want: "outlook.com"},
		{domain: "mail.gmail.com", want: DomainOther}, // subdomains are not folded in
		{domain: "example.org", want: DomainOther},
		{domain: "", want: DomainOther},
		{domain: "other", want: DomainOther},
	}
	for _, tt := range tests {
		if got := m.Domain(tt.domain); got != tt.want {
			t.Errorf("Domain(%q) = %q, want %q", tt.domain, got, tt.want)
		}
	}
}

func TestNewWithOptions_PrecreatesEveryDomainSeries(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	NewWithOptions(reg, Options{Domains: []string{"gmail.com", "outlook.com"}})
	// 3 results and 3 reply classes, for 2 domains and "other".
	if n := testutil.CollectAndCount(reg, "mxout_deliveries_total"); n != 9 {
		t.Errorf("mxout_deliveries_total has %d series, want 9", n)
	}
	if n := testutil.CollectAndCount(reg, "mxout_remote_replies_total"); n != 9 {
		t.Errorf("mxout_remote_replies_total has %d series, want 9", n)
	}
}

func TestDeliveryAndRemoteReply_CountUnderTheDomainLabel(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := NewWithOptions(reg, Options{Domains: []string{"gmail.com"}})
	m.Delivery(ResultDelivered, "gmail.com")
	m.Delivery(ResultDelivered, "example.org")
	m.Delivery(ResultBounced, "Example.NET")
	m.RemoteReply(250, "gmail.com")
	m.RemoteReply(451, "example.org")
	m.RemoteReply(554, "gmail.com")
	m.RemoteReply(0, "gmail.com")   // no reply: not counted
	m.RemoteReply(354, "gmail.com") // not a final class: not counted
	want := `
# HELP mxout_remote_replies_total Remote SMTP replies that decided a recipient's delivery attempt, by class (2xx, 4xx, 5xx) and recipient domain (metrics.domains, else other).
# TYPE mxout_remote_replies_total counter
mxout_remote_replies_total{class="2xx",domain="gmail.com"} 1
mxout_remote_replies_total{class="2xx",domain="other"} 0
mxout_remote_replies_total{class="4xx",domain="gmail.com"} 0
mxout_remote_replies_total{class="4xx",domain="other"} 1
mxout_remote_replies_total{class="5xx",domain="gmail.com"} 1
mxout_remote_replies_total{class="5xx",domain="other"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "mxout_remote_replies_total"); err != nil {
		t.Error(err)
	}
	for _, c := range []struct {
		result, domain string
		want           float64
	}{
		{ResultDelivered, "gmail.com", 1}, {ResultDelivered, DomainOther, 1},
		{ResultBounced, DomainOther, 1}, {ResultBounced, "gmail.com", 0}, {ResultDeferred, DomainOther, 0},
	} {
		if got := testutil.ToFloat64(m.Deliveries.WithLabelValues(c.result, c.domain)); got != c.want {
			t.Errorf("deliveries{result=%q,domain=%q} = %v, want %v", c.result, c.domain, got, c.want)
		}
	}
}
