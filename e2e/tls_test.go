package e2e

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/internal/ststest"
	"github.com/mxout/mxout/internal/testcert"
	"github.com/mxout/mxout/internal/testwait"
	"github.com/mxout/mxout/resolver/dnstest"
)

// tlsEnv is an env with a test CA that the relay trusts as its system
// roots (SSL_CERT_FILE), for MTA-STS policy hosts and MX certificates.
type tlsEnv struct {
	*env
	ca     *testcert.Pair
	caFile string
}

func newTLSEnv(t *testing.T) *tlsEnv {
	t.Helper()
	e := &tlsEnv{env: newEnv(t)}
	var err error
	if e.ca, err = testcert.New("mxout e2e CA"); err != nil {
		t.Fatal(err)
	}
	e.caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(e.caFile, e.ca.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

// relay is a relay that trusts the test CA.
func (e *tlsEnv) relay(overrides map[string]any) *relay {
	r := e.newRelay(overrides)
	r.env = []string{"SSL_CERT_FILE=" + e.caFile, "SSL_CERT_DIR=" + filepath.Dir(e.caFile)}
	return r
}

// mxCert starts an MX for domain presenting the certificate cert makes for
// its host name, and returns it with the host name.
func (e *tlsEnv) mxCert(domain string, pref int, cert func(host string) *testcert.Pair) (*smtptest.Server, string) {
	e.t.Helper()
	ip := e.net.NextIP()
	host := "mx-" + strings.ReplaceAll(ip, ".", "-") + "." + domain
	s := smtptest.NewServer(e.t, smtptest.Options{Addr: e.net.Addr(ip), Hostname: host, Certificate: &cert(host).TLS})
	e.records[domain] = append(e.records[domain], dnstest.Record{Type: "MX", Value: fmt.Sprintf("%d %s.", pref, host)})
	e.dns.Set(domain, e.records[domain]...)
	e.dns.Set(host, dnstest.Record{Type: "A", Value: ip})
	return s, host
}

func (e *tlsEnv) issued(host string) *testcert.Pair { return e.ca.IssueHost(e.t, host) }

func (e *tlsEnv) selfSigned(host string) *testcert.Pair {
	e.t.Helper()
	p, err := testcert.New(host, host)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// publishSTS serves an MTA-STS policy for domain where RFC 8461 puts it,
// https://mta-sts.<domain>/ on port 443 of a loopback address, with a
// certificate of the test CA, and returns the policy host. Binding port
// 443 needs root (or CAP_NET_BIND_SERVICE); without it the test is
// skipped.
func (e *tlsEnv) publishSTS(domain, policy string) *ststest.Server {
	e.t.Helper()
	ip := e.net.NextIP()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "443"))
	if err != nil {
		e.t.Skipf("the MTA-STS policy host needs port 443 (RFC 8461 fixes it): %v", err)
	}
	return ststest.Serve(e.t, l, e.issued("mta-sts."+domain).TLS, ststest.Policy(policy)).Publish(e.dns, domain, "e2e1")
}

// showsDeferral waits until `mxout queue show id` gives every reason in
// want, and returns its output.
func (r *relay) showsDeferral(id string, want ...string) string {
	r.t.Helper()
	var out string
	if !testwait.Until(30*time.Second, func() bool {
		out, _, _ = r.cli(nil, "show", id)
		for _, w := range want {
			if !strings.Contains(out, w) {
				return false
			}
		}
		return true
	}) {
		r.t.Errorf("queue show %s lacks one of %q:\n%s", id, want, out)
	}
	return out
}

// TestServe_MTASTSEnforce: the built binary fetches an enforced MTA-STS
// policy and keeps mail from an MX with a bad certificate and from an MX
// not in the policy, while a compliant MX gets its mail.
func TestServe_MTASTSEnforce(t *testing.T) {
	t.Parallel()
	e := newTLSEnv(t)
	e.publishSTS("badcert.example", "version: STSv1\nmode: enforce\nmx: *.badcert.example\nmax_age: 86400\n")
	e.publishSTS("outside.example", "version: STSv1\nmode: enforce\nmx: mx.elsewhere.example\nmax_age: 86400\n")
	e.publishSTS("good.example", "version: STSv1\nmode: enforce\nmx: *.good.example\nmax_age: 86400\n")
	e.publishSTS("testing.example", "version: STSv1\nmode: testing\nmx: *.testing.example\nmax_age: 86400\n")
	badMX, _ := e.mxCert("badcert.example", 10, e.selfSigned)
	testingMX, _ := e.mxCert("testing.example", 10, e.selfSigned)
	outMX, _ := e.mxCert("outside.example", 10, e.issued)
	goodMX, _ := e.mxCert("good.example", 10, e.issued)
	r := e.relay(nil).start()

	reply, err := r.send("app@sender.example", []string{"a@badcert.example", "b@outside.example", "c@good.example", "d@testing.example"}, "Subject: sts\r\n\r\nhi\r\n")
	if err != nil {
		t.Fatal(err)
	}
	id := queuedAs.FindStringSubmatch(reply)[1]
	goodMX.WaitMessages(t, 1, 20*time.Second)
	if m := goodMX.Messages()[0]; !m.TLS {
		t.Error("the compliant MX got the mail without TLS")
	}
	r.showsDeferral(id, "MTA-STS: certificate of", "MTA-STS: MX host")
	// Testing mode: delivered to the self-signed MX, counted and logged.
	testingMX.WaitMessages(t, 1, 20*time.Second)
	if v := r.metric(t, `mxout_outbound_tls_total{policy="mta-sts-testing",result="failure"}`); v != 1 {
		t.Errorf(`mxout_outbound_tls_total{policy="mta-sts-testing",result="failure"} = %v, want 1`, v)
	}
	if l := logLines(t, r, "delivery: TLS policy not met; delivered anyway, reported"); len(l) != 1 || l[0]["tls_policy"] != "mta-sts-testing" {
		t.Errorf("testing-mode log lines %v, want one with tls_policy=mta-sts-testing", l)
	}
	if n := len(badMX.Messages()); n != 0 {
		t.Errorf("the MX with a self-signed certificate got %d messages", n)
	}
	if n := outMX.Connections(); n != 0 {
		t.Errorf("the MX outside the policy got %d connections", n)
	}
	if v := r.metric(t, `mxout_outbound_tls_total{policy="mta-sts",result="failure"}`); v < 1 {
		t.Errorf(`mxout_outbound_tls_total{policy="mta-sts",result="failure"} = %v`, v)
	}
	lines := logLines(t, r, "delivery attempt")
	found := false
	for _, l := range lines {
		found = found || (l["to"] == "a@badcert.example" && l["tls_policy"] == "mta-sts" && strings.HasPrefix(fmt.Sprint(l["response"]), "MTA-STS:"))
	}
	if !found {
		t.Errorf("no attempt line with tls_policy=mta-sts naming MTA-STS for a@badcert.example:\n%v", lines)
	}

	// mxout tls check asks the running relay for its cached policy.
	cmd := exec.Command(binary(t), "tls", "check", "outside.example", "--config", r.configPath)
	cmd.Env = append(os.Environ(), r.env...)
	check, err := cmd.CombinedOutput()
	for _, want := range []string{"MTA-STS: mode enforce, id e2e1, fetched", "policy: mta-sts:", "refused: MTA-STS: MX host", "the running relay's"} {
		if err != nil || !strings.Contains(string(check), want) {
			t.Errorf("tls check: %v; output lacks %q:\n%s", err, want, check)
		}
	}
	// Stopped, the relay's cached policy is read from its queue.
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command(binary(t), "tls", "check", "good.example", "--config", r.configPath)
	cmd.Env = append(os.Environ(), r.env...)
	check, err = cmd.CombinedOutput()
	for _, want := range []string{"MTA-STS: mode enforce, id e2e1, fetched", "policy: mta-sts:", "read-only from"} {
		if err != nil || !strings.Contains(string(check), want) {
			t.Errorf("tls check with the relay stopped: %v; output lacks %q:\n%s", err, want, check)
		}
	}
}

// tlsaRecord is the 3 1 1 record of p.
func tlsaRecord(p *testcert.Pair) string {
	sum := sha256.Sum256(p.TLS.Leaf.RawSubjectPublicKeyInfo)
	return "3 1 1 " + hex.EncodeToString(sum[:])
}

// TestServe_TLSCheckFetchesItsOwnPolicy is the outside check's two GETs
// at a new domain's policy host (issue 21): `mxout tls check` on a
// running relay that has no policy for the domain fetches one for itself
// and stores nothing, and the relay's first delivery fetches its own.
// The check says so; once the relay has the policy, the check uses it
// and nobody fetches again.
func TestServe_TLSCheckFetchesItsOwnPolicy(t *testing.T) {
	t.Parallel()
	e := newTLSEnv(t)
	host := e.publishSTS("fresh.example", "version: STSv1\nmode: enforce\nmx: *.fresh.example\nmax_age: 86400\n")
	mx, _ := e.mxCert("fresh.example", 10, e.issued)
	r := e.relay(nil).start()
	check := func(step string, wantFetch bool, wantHits int64) {
		t.Helper()
		cmd := exec.Command(binary(t), "tls", "check", "fresh.example", "--config", r.configPath)
		cmd.Env = append(os.Environ(), r.env...)
		out, err := cmd.CombinedOutput()
		fetched := strings.Contains(string(out), "MTA-STS policy fetched by this check, not stored")
		if err != nil || !strings.Contains(string(out), "the running relay's") || fetched != wantFetch || host.Hits() != wantHits {
			t.Errorf("%s: tls check: %v; says it fetched: %v, want %v; policy host requests %d, want %d:\n%s",
				step, err, fetched, wantFetch, host.Hits(), wantHits, out)
		}
	}
	check("before any delivery", true, 1)
	if _, err := r.send("app@sender.example", []string{"a@fresh.example"}, "Subject: sts\r\n\r\nhi\r\n"); err != nil {
		t.Fatal(err)
	}
	mx.WaitMessages(t, 1, 20*time.Second)
	if n := host.Hits(); n != 2 {
		t.Errorf("after the first delivery the policy host got %d requests, want 2 (the check's and the relay's)", n)
	}
	check("after the delivery", false, 2)
}

// TestServe_DANE: with resolver.dnssec, an authenticated DANE-EE record
// delivers over TLS to a self-signed MX even under delivery.tls required,
// and a TLSA record that does not match defers.
func TestServe_DANE(t *testing.T) {
	t.Parallel()
	e := newTLSEnv(t)
	var cert *testcert.Pair
	okMX, okHost := e.mxCert("dane.example", 10, func(h string) *testcert.Pair { cert = e.selfSigned(h); return cert })
	e.dns.Set(fmt.Sprintf("_%d._tcp.%s", e.net.Port, okHost), dnstest.Record{Type: "TLSA", Value: tlsaRecord(cert)})
	badMX, badHost := e.mxCert("mismatch.example", 10, e.selfSigned)
	e.dns.Set(fmt.Sprintf("_%d._tcp.%s", e.net.Port, badHost), dnstest.Record{Type: "TLSA", Value: tlsaRecord(e.selfSigned("someone else"))})
	e.dns.SetAuthenticated("dane.example", true)
	e.dns.SetAuthenticated("mismatch.example", true)
	r := e.relay(map[string]any{
		"resolver": map[string]any{"servers": []any{e.dns.Addr}, "timeout": "2s", "dnssec": true},
		"delivery": map[string]any{"tls": "required"},
	}).start()

	if _, err := r.send("app@sender.example", []string{"u@dane.example"}, "Subject: dane\r\n\r\nhi\r\n"); err != nil {
		t.Fatal(err)
	}
	if m := okMX.WaitMessages(t, 1, 20*time.Second)[0]; !m.TLS {
		t.Error("DANE-EE delivery was not over TLS")
	}
	reply, err := r.send("app@sender.example", []string{"u@mismatch.example"}, "Subject: dane\r\n\r\nhi\r\n")
	if err != nil {
		t.Fatal(err)
	}
	r.showsDeferral(queuedAs.FindStringSubmatch(reply)[1], "DANE: certificate of")
	if n := len(badMX.Messages()); n != 0 {
		t.Errorf("TLSA mismatch: %d messages delivered", n)
	}
	if v := r.metric(t, `mxout_outbound_tls_total{policy="dane",result="tls"}`); v != 1 {
		t.Errorf(`mxout_outbound_tls_total{policy="dane",result="tls"} = %v, want 1`, v)
	}
}

// TestServe_TLSReportArrives: after a report window, the domain's report
// reaches the mailto: address of its _smtp._tls record, through the
// relay's own queue, as gzipped JSON that parses.
func TestServe_TLSReportArrives(t *testing.T) {
	t.Parallel()
	e := newTLSEnv(t)
	dest := e.mx("rpt.example", 10, smtptest.Options{TLS: true})
	rua := e.mx("rua.example", 10, smtptest.Options{})
	e.dns.Set("_smtp._tls.rpt.example", dnstest.Record{Type: "TXT", Value: `"v=TLSRPTv1; rua=mailto:tls-reports@rua.example"`})
	r := e.relay(map[string]any{
		"delivery": map[string]any{"tls_reporting": map[string]any{"interval": "3s", "organization": "E2E Org", "contact": "tls@relay.e2e.invalid"}},
	}).start()
	if _, err := r.send("app@sender.example", []string{"u@rpt.example"}, "Subject: hi\r\n\r\nhi\r\n"); err != nil {
		t.Fatal(err)
	}
	dest.WaitMessages(t, 1, 20*time.Second)
	var rep struct {
		Org       string `json:"organization-name"`
		Contact   string `json:"contact-info"`
		DateRange struct {
			Start time.Time `json:"start-datetime"`
			End   time.Time `json:"end-datetime"`
		} `json:"date-range"`
		Policies []struct {
			Policy struct {
				Type   string `json:"policy-type"`
				Domain string `json:"policy-domain"`
			} `json:"policy"`
			Summary struct {
				OK   int `json:"total-successful-session-count"`
				Fail int `json:"total-failure-session-count"`
			} `json:"summary"`
		} `json:"policies"`
	}
	var msg smtptest.Message
	testwait.For(t, 70*time.Second, "a report for rpt.example at the rua", func() bool {
		for _, m := range rua.Messages() {
			if bytes.Contains(m.Data, []byte("TLS-Report-Domain: rpt.example")) {
				msg = m
				return true
			}
		}
		return false
	})
	if msg.From != "" || len(msg.To) != 1 || msg.To[0] != "tls-reports@rua.example" {
		t.Errorf("report envelope from %q to %v, want <> to tls-reports@rua.example", msg.From, msg.To)
	}
	m, err := mail.ReadMessage(bytes.NewReader(msg.Data))
	if err != nil {
		t.Fatal(err)
	}
	if s := m.Header.Get("Subject"); !strings.HasPrefix(s, "Report Domain: rpt.example Submitter: relay.e2e.invalid Report-ID: <") {
		t.Errorf("Subject = %q", s)
	}
	mt, params, _ := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if mt != "multipart/report" || params["report-type"] != "tlsrpt" {
		t.Fatalf("Content-Type = %q", m.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := mr.NextRawPart()
		if err != nil {
			t.Fatalf("no application/tlsrpt+gzip part: %v", err)
		}
		if ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type")); ct != "application/tlsrpt+gzip" {
			continue
		}
		b64, _ := io.ReadAll(part)
		gz, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(string(b64), "\r\n", ""))
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(gz))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.NewDecoder(zr).Decode(&rep); err != nil {
			t.Fatal(err)
		}
		break
	}
	if rep.Org != "E2E Org" || rep.Contact != "tls@relay.e2e.invalid" || len(rep.Policies) != 1 {
		t.Fatalf("report = %+v", rep)
	}
	p := rep.Policies[0]
	if p.Policy.Type != "no-policy-found" || p.Policy.Domain != "rpt.example" || p.Summary.OK != 1 || p.Summary.Fail != 0 {
		t.Errorf("report policy = %+v, want one successful session to rpt.example", p)
	}
	if d := rep.DateRange.End.Sub(rep.DateRange.Start); d < 2*time.Second || d > 4*time.Second {
		t.Errorf("window %v to %v, want 3s", rep.DateRange.Start, rep.DateRange.End)
	}
}
