package tlspolicy_test

import (
	"context"
	"errors"
	"testing"

	"github.com/miekg/dns"

	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/internal/testcert"
	"github.com/mxout/mxout/resolver/dnstest"
	"github.com/mxout/mxout/tlspolicy"
	"github.com/mxout/mxout/tlsrpt"
)

func policyFor(mode, domain string) string {
	return "version: STSv1\nmode: " + mode + "\nmx: mx." + domain + "\nmax_age: 86400\n"
}

// TestPrecedence: DANE, then MTA-STS, then the configured delivery.tls.
func TestPrecedence(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	mxCert := w.issue("mx.both.example")
	rec := dnstest.Record{Type: "TLSA", Value: tlsaOf(mxCert)}
	// both.example: signed MX and TLSA, and an enforced MTA-STS policy.
	w.dns.Set("_25._tcp.mx.both.example", rec)
	w.publishSTS("both.example", policyFor("enforce", "both.example"))
	// unsignedtlsa.example: signed MX, TLSA not authenticated.
	w.dns.Set("_25._tcp.mx.unsignedtlsa.example", rec)
	w.publishSTS("unsignedtlsa.example", policyFor("enforce", "unsignedtlsa.example"))
	// testing.example, none.example: MTA-STS in testing and none modes.
	w.publishSTS("testing.example", policyFor("testing", "testing.example"))
	w.publishSTS("none.example", "version: STSv1\nmode: none\nmax_age: 86400\n")
	// broken.example: signed, and its TLSA lookup fails.
	w.dns.Set("_25._tcp.mx.broken.example", rec)
	w.dns.Fail("_25._tcp.mx.broken.example", "TLSA", dns.RcodeServerFailure)
	for _, z := range []string{"both.example", "broken.example", "_25._tcp.mx.unsignedtlsa.example"} {
		w.dns.SetAuthenticated(z, true)
	}
	w.dns.SetAuthenticated("_25._tcp.mx.unsignedtlsa.example", false)

	tests := []struct {
		domain     string
		mxSecure   bool
		daneOn     bool
		configured configs.TLSPolicy
		want       tlspolicy.Kind
		wantTLS    tlspolicy.TLSMode
	}{
		{"both.example", true, true, configs.TLSOpportunistic, tlspolicy.DANE, tlspolicy.TLSMust},
		{"both.example", true, false, configs.TLSOpportunistic, tlspolicy.MTASTS, tlspolicy.TLSMust}, // delivery.dane off
		{"both.example", false, true, configs.TLSOpportunistic, tlspolicy.MTASTS, tlspolicy.TLSMust}, // MX answer not authenticated
		{"unsignedtlsa.example", true, true, configs.TLSDisabled, tlspolicy.MTASTS, tlspolicy.TLSMust},
		{"testing.example", false, true, configs.TLSOpportunistic, tlspolicy.MTASTSTesting, tlspolicy.TLSMay},
		{"testing.example", false, true, configs.TLSRequired, tlspolicy.MTASTSTesting, tlspolicy.TLSMust},
		{"none.example", false, true, configs.TLSRequired, tlspolicy.Required, tlspolicy.TLSMust},
		{"nothing.example", false, true, configs.TLSRequired, tlspolicy.Required, tlspolicy.TLSMust},
		{"nothing.example", false, true, configs.TLSOpportunistic, tlspolicy.Opportunistic, tlspolicy.TLSMay},
		{"nothing.example", false, true, configs.TLSDisabled, tlspolicy.Opportunistic, tlspolicy.TLSOff},
	}
	for _, tt := range tests {
		p := w.policies(tt.daneOn)
		d := p.Domain(context.Background(), tt.domain, tt.mxSecure)
		h, err := p.Host(context.Background(), d, "MX."+tt.domain+".", tt.configured)
		if err != nil || h.Kind != tt.want || h.TLS != tt.wantTLS || h.MX != "mx."+tt.domain {
			t.Errorf("%s (MX secure %v, DANE %v, %s): Host = %+v, %v; want %s with TLS mode %d", tt.domain, tt.mxSecure, tt.daneOn, tt.configured, h, err, tt.want, tt.wantTLS)
		}
	}

	// A TLSA lookup that fails under a signed MX makes the host unusable.
	p := w.policies(true)
	d := p.Domain(context.Background(), "broken.example", true)
	_, err := p.Host(context.Background(), d, "mx.broken.example", configs.TLSOpportunistic)
	var f *tlspolicy.Failure
	if !errors.As(err, &f) || !f.Enforced || f.Result != tlsrpt.DNSSECInvalid {
		t.Errorf("Host with a failing TLSA lookup = %v, want an enforced dnssec-invalid failure", err)
	}
}

// TestCheck judges real handshakes under each policy.
func TestCheck(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	good := w.issue("mx.d.example")
	selfSigned, err := testcert.New("mx.d.example", "mx.d.example")
	if err != nil {
		t.Fatal(err)
	}
	wrongName := w.issue("other.example")
	expired, err := w.ca.IssueExpired("mx.d.example", "mx.d.example")
	if err != nil {
		t.Fatal(err)
	}
	w.dns.SetAuthenticated("d.example", true)
	w.dns.Set("_25._tcp.ee.d.example", dnstest.Record{Type: "TLSA", Value: tlsaOf(selfSigned)})
	w.dns.Set("_25._tcp.unusable.d.example", dnstest.Record{Type: "TLSA", Value: "1 1 1 " + tlsaOf(selfSigned)[6:]})
	p := w.policies(true)

	type want struct {
		result   tlsrpt.ResultType // "" for no failure
		enforced bool
	}
	host := func(kind string) *tlspolicy.Host {
		t.Helper()
		d := &tlspolicy.Domain{Name: "d.example"}
		mx, configured := "mx.d.example", configs.TLSOpportunistic
		switch kind {
		case "dane-ee":
			d.MXSecure, mx, configured = true, "ee.d.example", configs.TLSRequired
		case "dane-unusable":
			d.MXSecure, mx = true, "unusable.d.example"
		}
		if kind == "required" || kind == "testing+required" {
			configured = configs.TLSRequired
		}
		if kind == "mta-sts" || kind == "testing" || kind == "testing+required" {
			mode := "enforce"
			if kind != "mta-sts" {
				mode = "testing"
			}
			d.STS.Policy = mustPolicy(t, policyFor(mode, "d.example"))
		}
		h, err := p.Host(context.Background(), d, mx, configured)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	tests := []struct {
		policy string
		cert   *testcert.Pair
		want   want
	}{
		{"dane-ee", selfSigned, want{}}, // a self-signed DANE-EE match satisfies delivery.tls required
		{"dane-ee", good, want{tlsrpt.CertificateNotTrusted, true}},
		{"dane-unusable", good, want{tlsrpt.TLSAInvalid, false}},
		{"mta-sts", good, want{}},
		{"mta-sts", selfSigned, want{tlsrpt.CertificateNotTrusted, true}},
		{"mta-sts", wrongName, want{tlsrpt.CertificateHostMismatch, true}},
		{"mta-sts", expired, want{tlsrpt.CertificateExpired, true}},
		{"testing", selfSigned, want{tlsrpt.CertificateNotTrusted, false}},
		{"testing", good, want{}},
		{"testing+required", selfSigned, want{tlsrpt.CertificateNotTrusted, true}},
		{"required", good, want{}},
		{"required", selfSigned, want{tlsrpt.CertificateNotTrusted, true}},
		{"opportunistic", selfSigned, want{}},
	}
	for _, tt := range tests {
		h := host(tt.policy)
		f := handshake(t, h, tt.cert)
		got := want{}
		if f != nil {
			got = want{f.Result, f.Enforced}
		}
		if got != tt.want {
			t.Errorf("%s with %s: Check = %v (%+v), want %+v", tt.policy, tt.cert.TLS.Leaf.Subject.CommonName, f, got, tt.want)
		}
	}
}

// TestAdmitAndNoSTARTTLS: MX patterns and hosts without STARTTLS, under
// each kind.
func TestAdmitAndNoSTARTTLS(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	p := w.policies(true)
	for _, tt := range []struct {
		mode     string
		mx       string
		admit    bool
		enforced bool
	}{
		{"enforce", "mx.a.example", true, false},
		{"enforce", "evil.example", false, true},
		{"testing", "evil.example", false, false},
	} {
		d := &tlspolicy.Domain{Name: "a.example"}
		d.STS.Policy = mustPolicy(t, policyFor(tt.mode, "a.example"))
		h, err := p.Host(context.Background(), d, tt.mx, configs.TLSOpportunistic)
		if err != nil {
			t.Fatal(err)
		}
		f := h.Admit()
		if (f == nil) != tt.admit || (f != nil && (f.Enforced != tt.enforced || f.Result != tlsrpt.ValidationFailure)) {
			t.Errorf("%s policy, MX %s: Admit = %+v, want admitted %v, enforced %v", tt.mode, tt.mx, f, tt.admit, tt.enforced)
		}
		if f := h.NoSTARTTLS(); f == nil || f.Result != tlsrpt.StartTLSNotSupported || f.Enforced != (tt.mode == "enforce") {
			t.Errorf("%s policy: NoSTARTTLS = %+v", tt.mode, f)
		}
		if r := h.Report(); r.Type != tlsrpt.PolicySTS || r.Domain != "a.example" || len(r.Strings) != 4 || r.MXHost[0] != "mx.a.example" {
			t.Errorf("Report = %+v", r)
		}
	}
	d := &tlspolicy.Domain{Name: "a.example"}
	for _, c := range []configs.TLSPolicy{configs.TLSOpportunistic, configs.TLSRequired} {
		h, _ := p.Host(context.Background(), d, "mx.a.example", c)
		f := h.NoSTARTTLS()
		if (f != nil) != (c == configs.TLSRequired) || h.Admit() != nil || h.Report().Type != tlsrpt.PolicyNotFound {
			t.Errorf("%s: NoSTARTTLS = %v, Admit = %v, Report = %+v", c, f, h.Admit(), h.Report())
		}
	}
}

// TestSTSFailure names why a domain's policy could not be had.
func TestSTSFailure(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.publishSTS("down.example", "")
	w.publishSTS("bad.example", "version: STSv1\nmode: sometimes\n")
	p := w.policies(false)
	for _, tt := range []struct {
		domain string
		want   tlsrpt.ResultType
	}{
		{"down.example", tlsrpt.STSPolicyFetchError},
		{"bad.example", tlsrpt.STSPolicyInvalid},
	} {
		d := p.Domain(context.Background(), tt.domain, false)
		f := d.STSFailure()
		if f == nil || f.Result != tt.want || f.Enforced {
			t.Errorf("%s: STSFailure = %+v, want an unenforced %s", tt.domain, f, tt.want)
		}
		h, err := p.Host(context.Background(), d, "mx."+tt.domain, configs.TLSOpportunistic)
		if err != nil || h.Kind != tlspolicy.Opportunistic {
			t.Errorf("%s: without a policy, Host = %+v, %v; want the configured policy", tt.domain, h, err)
		}
	}
	if f := p.Domain(context.Background(), "nothing.example", false).STSFailure(); f != nil {
		t.Errorf("no record: STSFailure = %v", f)
	}
}
