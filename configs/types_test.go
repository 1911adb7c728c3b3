package configs

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestParseHostPort(t *testing.T) {
	t.Parallel()
	tests := []parsed[HostPort]{
		{in: "", want: HostPort{}},
		{in: "127.0.0.1:2525", want: HostPort{"127.0.0.1", 2525}},
		{in: "[::1]:25", want: HostPort{"::1", 25}},
		{in: ":2587", want: HostPort{"", 2587}},
		{in: "relay.example:587", want: HostPort{"relay.example", 587}},
		{in: "127.0.0.1:0", want: HostPort{"127.0.0.1", 0}},
		{in: "127.0.0.1:65535", want: HostPort{"127.0.0.1", 65535}},
		{in: "127.0.0.1:99999", bad: true},
		{in: "127.0.0.1:abc", bad: true},
		{in: "127.0.0.1:-1", bad: true},
		{in: "localhost", bad: true},
		{in: ":0", bad: true},
		{in: "::1:25", bad: true},
		{in: "bad host:25", bad: true},
	}
	testParse(t, "ParseHostPort", ParseHostPort, tests)
	for _, tt := range tests {
		if got, err := ParseHostPort(tt.in); err == nil && got.String() != tt.in {
			t.Errorf("ParseHostPort(%q).String() = %q", tt.in, got.String())
		}
	}
}

// Every address key is read the way serve uses it: a port that serve
// would refuse fails the check and names the key (issue 19 item 10).
func TestLoad_AddressesFailAsServeWould(t *testing.T) {
	t.Parallel()
	keys := []struct{ key, yaml string }{
		{"submission.listeners[0].address", "submission: {listeners: [{address: '%s', tls: none}]}"},
		{"metrics.listen", "metrics: {listen: '%s'}"},
		{"admin.listen", "admin: {listen: '%s'}"},
		{"api.listen", "api: {listen: '%s'}"},
		{"delivery.smarthost.address", "delivery: {smarthost: {address: '%s', tls: starttls}}"},
		{"resolver.servers[0]", "resolver: {servers: ['%s']}"},
	}
	for _, k := range keys {
		for _, bad := range []string{"127.0.0.1:99999", "127.0.0.1:abc"} {
			_, err := Load(writeConfig(t, strings.Replace(k.yaml, "%s", bad, 1)))
			if err == nil || !strings.Contains(err.Error(), k.key+": ") || !strings.Contains(err.Error(), bad) {
				t.Errorf("%s: %s: %v", k.key, bad, err)
			}
		}
	}
	if _, err := Load(writeConfig(t, "delivery: {smarthost: {address: ':587', tls: starttls}}")); err == nil || !strings.Contains(err.Error(), "delivery.smarthost.address: ") {
		t.Errorf("a smarthost without a host: %v", err)
	}
}

// The values the packages take come decoded and typed.
func TestLoad_TypedValues(t *testing.T) {
	t.Parallel()
	c, err := Load(writeConfig(t, `
submission:
  listeners: [{address: ':2587', tls: none}]
  trusted_networks: [10.0.0.0/8, 192.0.2.7, '::1']
delivery:
  tls: required
  ip_family: ipv4
  source_address: 192.0.2.1
  allowed_networks: [127.0.0.0/8]
  domains: {example.com: {rate: 10/s, tls: disabled}}
  smarthost: {address: 'relay.example:465', tls: implicit}
resolver: {servers: ['[::1]:53']}
log: {level: warn, format: json}
`))
	if err != nil {
		t.Fatal(err)
	}
	s, d := c.Submission, c.Delivery
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"), netip.MustParsePrefix("::1/128")}
	if len(s.TrustedNetworks) != 3 || s.TrustedNetworks[0] != want[0] || s.TrustedNetworks[1] != want[1] || s.TrustedNetworks[2] != want[2] {
		t.Errorf("trusted_networks = %v, want %v", s.TrustedNetworks, want)
	}
	if s.Listeners[0].Address != (HostPort{"", 2587}) || s.Listeners[0].TLS != TLSNone {
		t.Errorf("listener = %+v", s.Listeners[0])
	}
	if d.TLS != TLSRequired || d.IPFamily != IPv4 || d.SourceAddress != netip.MustParseAddr("192.0.2.1") ||
		d.AllowedNetworks[0] != netip.MustParsePrefix("127.0.0.0/8") {
		t.Errorf("delivery = tls %q, family %q, source %v, allowed %v", d.TLS, d.IPFamily, d.SourceAddress, d.AllowedNetworks)
	}
	if p := d.Domains["example.com"]; p.Rate != (Rate{10, time.Second}) || p.Rate.Interval() != 100*time.Millisecond || p.TLS != TLSDisabled {
		t.Errorf("domain = %+v", p)
	}
	if d.Smarthost.Address != (HostPort{"relay.example", 465}) || d.Smarthost.TLS != TLSImplicit {
		t.Errorf("smarthost = %+v", d.Smarthost)
	}
	if c.Resolver.Servers[0].String() != "[::1]:53" || c.Log.Level.Slog().String() != "WARN" || c.Log.Format != LogJSON {
		t.Errorf("resolver %v, log %+v", c.Resolver.Servers, c.Log)
	}
	out, err := Render(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"address: :2587", "trusted_networks: [10.0.0.0/8, 192.0.2.7/32, '::1/128']", "rate: 10/s", "address: relay.example:465", "source_address: 192.0.2.1"} {
		if !strings.Contains(string(out), w) {
			t.Errorf("rendered config lacks %q:\n%s", w, out)
		}
	}
}
