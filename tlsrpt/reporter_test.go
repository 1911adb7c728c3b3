package tlsrpt_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mxout/mxout/internal/netguard"
	"github.com/mxout/mxout/internal/testcert"
	"github.com/mxout/mxout/internal/testwait"
	"github.com/mxout/mxout/queue"
	"github.com/mxout/mxout/queue/queuetest"
	"github.com/mxout/mxout/resolver"
	"github.com/mxout/mxout/resolver/dnstest"
	"github.com/mxout/mxout/tlsrpt"
)

// queueMailer queues report messages in a real queue, from the null
// sender, and tells the test their IDs.
type queueMailer struct {
	q   *queue.Queue
	ids chan queue.ID
}

func (m *queueMailer) SubmitReport(ctx context.Context, to []string, msg []byte) error {
	env := queue.Envelope{}
	for _, a := range to {
		env.To = append(env.To, queue.RecipientParams{Addr: a})
	}
	id, err := m.q.Enqueue(ctx, "", env, msg)
	if err == nil {
		m.ids <- id
	}
	return err
}

// posts is an HTTPS report endpoint on loopback.
type posts struct {
	mu     sync.Mutex
	bodies [][]byte
	types  []string
	got    chan struct{}
	fail   atomic.Int64 // answer this many POSTs with 500
}

type fixture struct {
	dns    *dnstest.Server
	res    *resolver.Resolver
	ca     *testcert.Pair
	posts  *posts
	mailer *queueMailer
	q      *queue.Queue
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{posts: &posts{got: make(chan struct{}, 10)}}
	var err error
	if f.ca, err = testcert.New("report test CA"); err != nil {
		t.Fatal(err)
	}
	cert := f.ca.IssueHost(t, "reports.https.example")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if f.posts.fail.Add(-1) >= 0 {
				http.Error(w, "try later", http.StatusInternalServerError)
				return
			}
			body, _ := io.ReadAll(r.Body)
			f.posts.mu.Lock()
			f.posts.bodies = append(f.posts.bodies, body)
			f.posts.types = append(f.posts.types, r.Header.Get("Content-Type"))
			f.posts.mu.Unlock()
			f.posts.got <- struct{}{}
		}),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert.TLS}},
		ReadHeaderTimeout: 5 * time.Second,
	}
	go srv.ServeTLS(l, "", "")
	t.Cleanup(func() { srv.Close() })
	port := l.Addr().(*net.TCPAddr).Port
	f.dns = dnstest.NewServer(t, map[string][]dnstest.Record{
		"_smtp._tls.mail.example":  {{Type: "TXT", Value: `"v=TLSRPTv1; rua=mailto:tlsrpt@rua.example"`}},
		"_smtp._tls.https.example": {{Type: "TXT", Value: fmt.Sprintf(`"v=TLSRPTv1; rua=https://reports.https.example:%d/v1/tlsrpt"`, port)}},
		"reports.https.example":    {{Type: "A", Value: "127.0.0.1"}},
		"quiet.example":            {{Type: "MX", Value: "10 mx.quiet.example."}},
	})
	if f.res, err = resolver.New(resolver.Config{Servers: []string{f.dns.Addr}, Timeout: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	f.q = queuetest.Open(t, queuetest.Options(t.TempDir()))
	f.mailer = &queueMailer{q: f.q, ids: make(chan queue.ID, 10)}
	return f
}

func (f *fixture) config(interval time.Duration, store tlsrpt.Store) tlsrpt.Config {
	return tlsrpt.Config{
		Resolver: f.res, Guard: netguard.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}),
		Store: store, Mailer: f.mailer, Interval: interval, RootCAs: f.ca.Pool(),
		Organization: "Relay Org", Contact: "postmaster@relay.example", Submitter: "relay.example", From: "tlsrpt-noreply@relay.example",
	}
}

var stsPolicy = tlsrpt.Policy{Type: tlsrpt.PolicySTS, Domain: "mail.example", Strings: []string{"version: STSv1", "mode: enforce", "mx: mx.mail.example", "max_age: 86400"}, MXHost: []string{"mx.mail.example"}}

// TestReportsSentAtWindowEnd counts sessions for three domains, one
// reporting by mail, one over HTTPS and one not at all, and reads both
// reports back as JSON.
// runUntilEnd runs r until the test ends.
func runUntilEnd(t *testing.T, r *tlsrpt.Reporter) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// within receives from ch, failing the test with msg after a minute.
func within[T any](t *testing.T, ch <-chan T, msg string) T {
	t.Helper()
	var v T
	select {
	case v = <-ch:
	case <-time.After(time.Minute):
		t.Fatal(msg)
	}
	return v
}

func TestReportsSentAtWindowEnd(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const interval = time.Second
	r, err := tlsrpt.New(f.config(interval, nil))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for range 3 {
		r.Success(stsPolicy)
	}
	expired := tlsrpt.Failure{Result: tlsrpt.CertificateExpired, SendingIP: "192.0.2.1", ReceivingMX: "MX.mail.example", ReceivingIP: "198.51.100.7", Reason: "x509: certificate has expired"}
	r.Failure(stsPolicy, expired)
	r.Failure(stsPolicy, expired)
	dane := tlsrpt.Policy{Type: tlsrpt.PolicyTLSA, Domain: "https.example", Strings: []string{"3 1 1 AB"}, MXHost: []string{"mx.https.example"}}
	r.Failure(dane, tlsrpt.Failure{Result: tlsrpt.StartTLSNotSupported, ReceivingMX: "mx.https.example"})
	r.Success(tlsrpt.Policy{Type: tlsrpt.PolicyNotFound, Domain: "quiet.example"})

	runUntilEnd(t, r)
	id := within(t, f.mailer.ids, "no report mail within a minute of the window's end")
	within(t, f.posts.got, "no report POST within a minute of the window's end")
	m, err := f.q.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	if m.Envelope.From != "" || len(m.Recipients) != 1 || m.Recipients[0].Addr != "tlsrpt@rua.example" {
		t.Errorf("envelope from %q to %+v, want <> to tlsrpt@rua.example", m.Envelope.From, m.Recipients)
	}
	body, err := f.q.Body(id)
	if err != nil {
		t.Fatal(err)
	}
	p := parseMessage(t, body)
	rep := p.report
	if want := "Report Domain: mail.example Submitter: relay.example Report-ID: <" + rep.ReportID + ">"; p.header.Get("Subject") != want {
		t.Errorf("Subject = %q, want %q", p.header.Get("Subject"), want)
	}
	if rep.OrganizationName != "Relay Org" || rep.ContactInfo != "postmaster@relay.example" || len(rep.Policies) != 1 {
		t.Fatalf("report = %+v", rep)
	}
	if d := rep.DateRange.End.Sub(rep.DateRange.Start); d < interval-time.Second || d > interval+time.Second || rep.DateRange.Start.Before(start.Add(-2*time.Second)) {
		t.Errorf("date range %v - %v for a window of %v from %v", rep.DateRange.Start, rep.DateRange.End, interval, start)
	}
	pr := rep.Policies[0]
	if pr.Policy.Type != tlsrpt.PolicySTS || pr.Policy.Domain != "mail.example" || len(pr.Policy.String) != 4 || pr.Summary != (tlsrpt.Summary{Successful: 3, Failed: 2}) {
		t.Errorf("policy results = %+v", pr)
	}
	want := tlsrpt.FailureDetail{ResultType: tlsrpt.CertificateExpired, SendingMTAIP: "192.0.2.1", ReceivingMXHostname: "mx.mail.example", ReceivingIP: "198.51.100.7", FailedSessionCount: 2, FailureReasonCode: "x509: certificate has expired"}
	if len(pr.FailureDetails) != 1 || pr.FailureDetails[0] != want {
		t.Errorf("failure details = %+v, want %+v", pr.FailureDetails, want)
	}

	f.posts.mu.Lock()
	body, ctype := f.posts.bodies[0], f.posts.types[0]
	f.posts.mu.Unlock()
	if ctype != "application/tlsrpt+gzip" {
		t.Errorf("POST Content-Type = %q", ctype)
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var posted tlsrpt.Report
	if err := json.NewDecoder(zr).Decode(&posted); err != nil {
		t.Fatal(err)
	}
	if len(posted.Policies) != 1 || posted.Policies[0].Policy.Type != tlsrpt.PolicyTLSA || posted.Policies[0].Summary.Failed != 1 ||
		posted.Policies[0].FailureDetails[0].ResultType != tlsrpt.StartTLSNotSupported {
		t.Errorf("posted report = %+v", posted)
	}
}

// TestCountsSurviveRestart saves the counts in the queue database at
// shutdown; the next run reports them with their original start.
func TestCountsSurviveRestart(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	kv, err := f.q.KV("tlsrpt")
	if err != nil {
		t.Fatal(err)
	}
	first, err := tlsrpt.New(f.config(time.Hour, kv))
	if err != nil {
		t.Fatal(err)
	}
	firstStart := time.Now()
	first.Success(stsPolicy)
	first.Failure(stsPolicy, tlsrpt.Failure{Result: tlsrpt.CertificateHostMismatch, ReceivingMX: "mx.mail.example"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Run saves the counts when it stops
	if err := first.Run(ctx); err != nil {
		t.Fatal(err)
	}

	second, err := tlsrpt.New(f.config(time.Second, kv))
	if err != nil {
		t.Fatal(err)
	}
	second.Success(stsPolicy)
	runUntilEnd(t, second)
	id := within(t, f.mailer.ids, "no report within a minute")
	body, err := f.q.Body(id)
	if err != nil {
		t.Fatal(err)
	}
	rep := parseMessage(t, body).report
	if len(rep.Policies) != 1 || rep.Policies[0].Summary != (tlsrpt.Summary{Successful: 2, Failed: 1}) {
		t.Errorf("report after restart = %+v, want 2 successes and 1 failure", rep.Policies)
	}
	if rep.DateRange.Start.After(firstStart) || firstStart.Sub(rep.DateRange.Start) > 2*time.Second {
		t.Errorf("report starts %v, want the first run's start %v", rep.DateRange.Start, firstStart)
	}
	// Sent counts leave the store.
	testwait.For(t, 30*time.Second, "the count records to leave the store after the report was sent", func() bool {
		n := 0
		kv.Each(func(string, []byte) error { n++; return nil })
		return n == 0
	})
}

// TestReportRetried: a report the endpoint refuses is sent again later.
func TestReportRetried(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.posts.fail.Store(2)
	r, err := tlsrpt.New(f.config(100*time.Millisecond, nil))
	if err != nil {
		t.Fatal(err)
	}
	tlsrpt.SetFlushEvery(r, 10*time.Millisecond)
	r.Success(tlsrpt.Policy{Type: tlsrpt.PolicyNotFound, Domain: "https.example"})
	runUntilEnd(t, r)
	within(t, f.posts.got, "the report was not sent again after two refusals")
	if n := f.posts.fail.Load(); n >= 0 {
		t.Errorf("%d refusals left; the report went through without retrying", n+1)
	}
}
