package delivery

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/internal/testcert"
	"github.com/mxout/mxout/internal/testwait"
	"github.com/mxout/mxout/metrics"
	"github.com/mxout/mxout/queue"
	"github.com/mxout/mxout/tlsrpt"
)

// TestDANE_EEMatchDeliversToSelfSignedUnderRequired: an authenticated
// DANE-EE record that matches a self-signed certificate satisfies
// delivery.tls required.
func TestDANE_EEMatchDeliversToSelfSignedUnderRequired(t *testing.T) {
	t.Parallel()
	w := newTLSWorld(t)
	m := metrics.New(prometheus.NewRegistry())
	w.cfg.Metrics, w.cfg.TLS = m, configs.TLSRequired
	var cert *testcert.Pair
	mx, host := w.mxCert("dane.example", 10, smtptest.Options{}, func(h string) *testcert.Pair { cert = selfSigned(t)(h); return cert })
	w.tlsa(host, 3, cert)
	w.dns.SetAuthenticated("dane.example", true)
	w.start()
	id := w.enqueue("app@sender.example", "u@dane.example")
	w.delivered(id, "u@dane.example")
	if msgs := mx.Messages(); len(msgs) != 1 || !msgs[0].TLS {
		t.Fatalf("MX got %+v, want one message over TLS", msgs)
	}
	if v := testutil.ToFloat64(m.OutboundTLS.WithLabelValues("dane", "tls")); v != 1 {
		t.Errorf(`outbound_tls_total{policy="dane",result="tls"} = %v, want 1`, v)
	}
	if l := w.attemptLines("u@dane.example"); len(l) != 1 || l[0]["tls_policy"] != "dane" {
		t.Errorf("attempt lines %v, want one with tls_policy=dane", l)
	}
	ok, _ := w.reports.snapshot()
	if len(ok) != 1 || ok[0].Type != tlsrpt.PolicyTLSA || ok[0].Domain != "dane.example" || len(ok[0].Strings) != 1 {
		t.Errorf("TLS report successes %+v, want one under the tlsa policy", ok)
	}
}

// TestDANE_MismatchTriesNextMXThenDefers: a certificate that matches no
// TLSA record is not used; the next MX is; with none left the mail is
// deferred, naming DANE.
func TestDANE_MismatchTriesNextMXThenDefers(t *testing.T) {
	t.Parallel()
	for _, usage := range []int{3, 2} {
		t.Run(map[int]string{3: "DANE-EE", 2: "DANE-TA"}[usage], func(t *testing.T) {
			t.Parallel()
			w := newTLSWorld(t)
			m := metrics.New(prometheus.NewRegistry())
			w.cfg.Metrics = m
			other, err := testcert.New("not the server's")
			if err != nil {
				t.Fatal(err)
			}
			bad, badHost := w.mxCert("mismatch.example", 10, smtptest.Options{}, w.issued)
			w.tlsa(badHost, usage, other) // names a key the server does not have
			var goodCert *testcert.Pair
			good, goodHost := w.mxCert("mismatch.example", 20, smtptest.Options{}, func(h string) *testcert.Pair { goodCert = w.issued(h); return goodCert })
			if usage == 2 {
				w.tlsa(goodHost, 2, w.ca) // the CA that issued the server's certificate
			} else {
				w.tlsa(goodHost, 3, goodCert)
			}
			only, onlyHost := w.mxCert("onlybad.example", 10, smtptest.Options{}, w.issued)
			w.tlsa(onlyHost, usage, other)
			w.dns.SetAuthenticated("mismatch.example", true)
			w.dns.SetAuthenticated("onlybad.example", true)
			w.start()

			id := w.enqueue("app@sender.example", "u@mismatch.example")
			w.delivered(id, "u@mismatch.example")
			if len(bad.Messages()) != 0 || len(good.Messages()) != 1 {
				t.Errorf("mismatching MX got %d, matching one %d messages; want 0 and 1", len(bad.Messages()), len(good.Messages()))
			}
			id = w.enqueue("app@sender.example", "u@onlybad.example")
			r := w.firstResult(id, "u@onlybad.example")
			if r.State != queue.Pending || r.Status != "4.7.5" || !strings.HasPrefix(r.Response, "DANE: ") || len(only.Messages()) != 0 {
				t.Errorf("only a mismatching MX: %+v, %d messages; want a 4.7.5 deferral naming DANE", r, len(only.Messages()))
			}
			if v := testutil.ToFloat64(m.OutboundTLS.WithLabelValues("dane", "failure")); v < 2 {
				t.Errorf(`outbound_tls_total{policy="dane",result="failure"} = %v, want at least 2`, v)
			}
			if len(only.Messages()) != 0 || testutil.ToFloat64(m.OutboundTLS.WithLabelValues("dane", "plaintext")) != 0 {
				t.Error("a DANE host was tried in plaintext")
			}
			_, fails := w.reports.snapshot()
			if len(fails) == 0 || fails[0].f.Result != tlsrpt.CertificateNotTrusted || fails[0].p.Type != tlsrpt.PolicyTLSA {
				t.Errorf("TLS report failures %+v, want certificate-not-trusted under tlsa", fails)
			}
		})
	}
}

// TestDANE_NoSTARTTLSDefers: a host with TLSA records must offer STARTTLS.
func TestDANE_NoSTARTTLSDefers(t *testing.T) {
	t.Parallel()
	w := newTLSWorld(t)
	mx, host := w.mxCert("plain.example", 10, smtptest.Options{}, nil) // no TLS at all
	w.tlsa(host, 3, w.ca)
	w.dns.SetAuthenticated("plain.example", true)
	w.start()
	id := w.enqueue("app@sender.example", "u@plain.example")
	r := w.firstResult(id, "u@plain.example")
	if r.State != queue.Pending || r.Status != "4.7.10" || !strings.Contains(r.Response, "DANE") || len(mx.Messages()) != 0 {
		t.Errorf("result %+v, %d messages; want a 4.7.10 deferral naming DANE and nothing sent", r, len(mx.Messages()))
	}
}

// TestDANE_UnauthenticatedTLSAIgnored: a TLSA answer without AD is as if
// there were none: opportunistic TLS delivers to any certificate.
func TestDANE_UnauthenticatedTLSAIgnored(t *testing.T) {
	t.Parallel()
	w := newTLSWorld(t)
	other, err := testcert.New("not the server's")
	if err != nil {
		t.Fatal(err)
	}
	mx, host := w.mxCert("insecure.example", 10, smtptest.Options{}, selfSigned(t))
	w.tlsa(host, 3, other)
	w.dns.SetAuthenticated("insecure.example", true)
	w.dns.SetAuthenticated(fmt.Sprintf("_%d._tcp.%s", w.port, host), false)
	w.start()
	id := w.enqueue("app@sender.example", "u@insecure.example")
	w.delivered(id, "u@insecure.example")
	if l := w.attemptLines("u@insecure.example"); len(l) != 1 || l[0]["tls_policy"] != "opportunistic" || len(mx.Messages()) != 1 {
		t.Errorf("attempt lines %v; want one delivery under opportunistic", l)
	}
}

// TestMTASTS_Enforce keeps mail from an MX with a bad certificate and
// from an MX not in the policy, and delivers to one that meets it.
func TestMTASTS_Enforce(t *testing.T) {
	t.Parallel()
	w := newTLSWorld(t)
	m := metrics.New(prometheus.NewRegistry())
	w.cfg.Metrics = m
	// badcert.example: its only MX has a self-signed certificate.
	badMX, _ := w.mxCert("badcert.example", 10, smtptest.Options{}, selfSigned(t))
	w.publishSTS("badcert.example", "version: STSv1\nmode: enforce\nmx: *.badcert.example\nmax_age: 86400\n")
	// outside.example: its MX is not in the policy, though its certificate is fine.
	outMX, _ := w.mxCert("outside.example", 10, smtptest.Options{}, w.issued)
	w.publishSTS("outside.example", "version: STSv1\nmode: enforce\nmx: mx.elsewhere.example\nmax_age: 86400\n")
	// good.example: a bad MX first, then one that meets the policy.
	skipMX, _ := w.mxCert("good.example", 10, smtptest.Options{}, selfSigned(t))
	goodMX, _ := w.mxCert("good.example", 20, smtptest.Options{}, w.issued)
	w.publishSTS("good.example", "version: STSv1\nmode: enforce\nmx: *.good.example\nmax_age: 86400\n")
	w.start()

	id := w.enqueue("app@sender.example", "u@good.example")
	w.delivered(id, "u@good.example")
	if len(skipMX.Messages()) != 0 || len(goodMX.Messages()) != 1 {
		t.Errorf("bad MX got %d, good MX %d messages; want 0 and 1", len(skipMX.Messages()), len(goodMX.Messages()))
	}
	for _, tt := range []struct {
		rcpt, want string
		mx         *smtptest.Server
	}{
		{"u@badcert.example", "MTA-STS: certificate of", badMX},
		{"u@outside.example", "MTA-STS: MX host", outMX},
	} {
		id := w.enqueue("app@sender.example", tt.rcpt)
		r := w.firstResult(id, tt.rcpt)
		if r.State != queue.Pending || !strings.HasPrefix(r.Response, tt.want) || len(tt.mx.Messages()) != 0 {
			t.Errorf("%s: %+v, %d messages; want a deferral starting %q, nothing sent", tt.rcpt, r, len(tt.mx.Messages()), tt.want)
		}
		if l := w.attemptLines(tt.rcpt); len(l) == 0 || l[0]["tls_policy"] != "mta-sts" {
			t.Errorf("%s: attempt lines %v, want tls_policy=mta-sts", tt.rcpt, l)
		}
	}
	if outMX.Connections() != 0 {
		t.Errorf("the MX outside the policy got %d connections", outMX.Connections())
	}
	if v := testutil.ToFloat64(m.OutboundTLS.WithLabelValues("mta-sts", "failure")); v < 2 {
		t.Errorf(`outbound_tls_total{policy="mta-sts",result="failure"} = %v, want at least 2`, v)
	}
	if v := testutil.ToFloat64(m.OutboundTLS.WithLabelValues("mta-sts", "tls")); v != 1 {
		t.Errorf(`outbound_tls_total{policy="mta-sts",result="tls"} = %v, want 1`, v)
	}
}

// TestMTASTS_TestingDeliversAndCounts: in testing mode, a bad certificate
// is counted and logged, and the mail is delivered as configured.
func TestMTASTS_TestingDeliversAndCounts(t *testing.T) {
	t.Parallel()
	w := newTLSWorld(t)
	m := metrics.New(prometheus.NewRegistry())
	w.cfg.Metrics = m
	mx, _ := w.mxCert("testing.example", 10, smtptest.Options{}, selfSigned(t))
	w.publishSTS("testing.example", "version: STSv1\nmode: testing\nmx: *.testing.example\nmax_age: 86400\n")
	noneMX, _ := w.mxCert("none.example", 10, smtptest.Options{}, selfSigned(t))
	w.publishSTS("none.example", "version: STSv1\nmode: none\nmax_age: 86400\n")
	w.start()
	id := w.enqueue("app@sender.example", "u@testing.example", "u@none.example")
	final := w.waitFinal(id, 2, 15*time.Second)
	if final["u@testing.example"].State != queue.Delivered || final["u@none.example"].State != queue.Delivered || len(mx.Messages()) != 1 || len(noneMX.Messages()) != 1 {
		t.Fatalf("final %+v; want both delivered", final)
	}
	if v := testutil.ToFloat64(m.OutboundTLS.WithLabelValues("mta-sts-testing", "failure")); v != 1 {
		t.Errorf(`outbound_tls_total{policy="mta-sts-testing",result="failure"} = %v, want 1`, v)
	}
	if v := testutil.ToFloat64(m.OutboundTLS.WithLabelValues("opportunistic", "tls")); v != 1 {
		t.Errorf(`outbound_tls_total{policy="opportunistic",result="tls"} = %v, want 1 (mode none)`, v)
	}
	found := false
	for _, l := range jsonLines(w.logs.String()) {
		found = found || (l["msg"] == "delivery: TLS policy not met; delivered anyway, reported" && l["tls_policy"] == "mta-sts-testing")
	}
	if !found {
		t.Errorf("no log line for the testing-mode failure:\n%s", w.logs.String())
	}
	if l := w.attemptLines("u@testing.example"); len(l) != 1 || l[0]["tls_policy"] != "mta-sts-testing" {
		t.Errorf("attempt lines %v, want tls_policy=mta-sts-testing", l)
	}
}

// TestMTASTS_NewDomainFetchedOnce: the relay's first deliveries to a
// domain it has no MTA-STS policy for fetch the policy once (RFC 8461
// §5.1; the outside check of issue 21 counted two GETs at the policy
// host, the other from `mxout tls check`). The case it saw: an enforced
// policy and an MX without STARTTLS, so every attempt defers. Two
// messages at once (concurrent lookups share the fetch), one of them
// with recipients spelt in another case, and their retries: one fetch.
func TestMTASTS_NewDomainFetchedOnce(t *testing.T) {
	t.Parallel()
	w := newTLSWorld(t)
	mx := w.mx("once.example", 10, smtptest.Options{})
	ps := w.publishSTS("once.example", "version: STSv1\nmode: enforce\nmx: *.once.example\nmax_age: 86400\n")
	w.start()
	a := w.enqueue("app@sender.example", "u@once.example")
	b := w.enqueue("app@sender.example", "v@ONCE.example", "x@Once.Example")
	for _, r := range []struct {
		id   queue.ID
		rcpt string
	}{{a, "u@once.example"}, {b, "v@ONCE.example"}} {
		// Two attempts each: the first deliveries and a retry.
		if !testwait.Until(15*time.Second, func() bool { return len(w.notes.all(r.id, r.rcpt)) >= 2 }) {
			t.Fatalf("%s: %d results, want a deferral and a retry", r.rcpt, len(w.notes.all(r.id, r.rcpt)))
		}
		if got := w.notes.all(r.id, r.rcpt)[0]; got.State != queue.Pending || got.Status != "4.7.10" {
			t.Errorf("%s: %+v, want a 4.7.10 deferral (no STARTTLS under an enforced policy)", r.rcpt, got)
		}
	}
	if n := ps.Hits(); n != 1 {
		t.Errorf("the policy host got %d requests for the deliveries and their retries, want 1", n)
	}
	if len(mx.Messages()) != 0 {
		t.Errorf("the MX without STARTTLS got %d messages", len(mx.Messages()))
	}
}

// TestTLSReportMessagesIgnorePolicies: a queued TLS report goes out even
// to an MX that the destination's own policy would refuse, and its
// session is not reported.
func TestTLSReportMessagesIgnorePolicies(t *testing.T) {
	t.Parallel()
	w := newTLSWorld(t)
	mx, _ := w.mxCert("rua.example", 10, smtptest.Options{}, selfSigned(t))
	w.publishSTS("rua.example", "version: STSv1\nmode: enforce\nmx: *.rua.example\nmax_age: 86400\n")
	w.start()
	env := queue.Envelope{From: "", Client: TLSReportClient, To: []queue.RecipientParams{{Addr: "tlsrpt@rua.example"}}}
	id := w.enqueueEnv(env, "Subject: report\r\n\r\nx\r\n")
	w.delivered(id, "tlsrpt@rua.example")
	if ok, fails := w.reports.snapshot(); len(ok)+len(fails) != 0 || len(mx.Messages()) != 1 {
		t.Errorf("report sessions reported %v %v; want none", ok, fails)
	}
}
