package tlspolicy_test

import (
	"context"
	"strings"
	"testing"

	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/resolver/dnstest"
	"github.com/mxout/mxout/tlspolicy"
)

// TestExplain prints what `mxout tls check` shows for a domain with
// DNSSEC, DANE on one MX host and an MTA-STS policy.
func TestExplain(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ee := w.issue("mx.x.example")
	w.dns.Set("x.example", dnstest.Record{Type: "MX", Value: "10 mx.x.example."}, dnstest.Record{Type: "MX", Value: "20 backup.other.example."})
	w.dns.Set("_25._tcp.mx.x.example", dnstest.Record{Type: "TLSA", Value: tlsaOf(ee)})
	w.dns.SetAuthenticated("x.example", true)
	w.publishSTS("x.example", policyFor("enforce", "x.example"))

	e := w.policies(true).Explain(context.Background(), w.res, "X.example", configs.TLSOpportunistic)
	if len(e.Hosts) != 2 || !e.MXSecure || e.STS.Policy == nil {
		t.Fatalf("Explain = %+v", e)
	}
	if e.Hosts[0].Policy.Kind != tlspolicy.DANE || !e.Hosts[0].TLSASecure || e.Hosts[1].Policy.Kind != tlspolicy.MTASTS {
		t.Errorf("host policies %s (TLSA secure %v), %s", e.Hosts[0].Policy.Kind, e.Hosts[0].TLSASecure, e.Hosts[1].Policy.Kind)
	}
	var b strings.Builder
	if _, err := e.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"domain: x.example",
		"MX (authenticated by DNSSEC):\n  10 mx.x.example\n  20 backup.other.example",
		"MTA-STS: mode enforce, id 1, fetched 0s ago",
		"  mx: mx.x.example",
		"host mx.x.example:\n  TLSA (authenticated by DNSSEC):\n    3 1 1 " + strings.ToUpper(tlsaOf(ee)[6:]) + "\n",
		"  policy: dane: TLS required; the certificate must match a TLSA record",
		"host backup.other.example:\n  TLSA: none (not authenticated)",
		"  policy: mta-sts: TLS required",
		"  refused: MTA-STS: MX host backup.other.example is not in the policy of x.example",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	off := tlspolicy.New(tlspolicy.Config{Resolver: w.res, Port: 25}).Explain(context.Background(), w.res, "x.example", configs.TLSRequired)
	b.Reset()
	off.WriteTo(&b)
	for _, want := range []string{"MTA-STS: off (delivery.mta_sts)", "DANE: off", "  policy: required: TLS required"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("output with MTA-STS and DANE off lacks %q:\n%s", want, b.String())
		}
	}
}
