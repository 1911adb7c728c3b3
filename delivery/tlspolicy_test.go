package delivery

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/internal/netguard"
	"github.com/mxout/mxout/internal/ststest"
	"github.com/mxout/mxout/internal/testcert"
	"github.com/mxout/mxout/internal/testlog"
	"github.com/mxout/mxout/mtasts"
	"github.com/mxout/mxout/queue"
	"github.com/mxout/mxout/resolver"
	"github.com/mxout/mxout/resolver/dnstest"
	"github.com/mxout/mxout/tlspolicy"
	"github.com/mxout/mxout/tlsrpt"
)

// tlsWorld is a world with DNSSEC answers, MTA-STS policy hosts on
// loopback, a test CA and the engine's TLS policies and reports.
type tlsWorld struct {
	*world
	ca      *testcert.Pair
	reports *recordingReports
	logs    *testlog.Buffer
}

func newTLSWorld(t *testing.T) *tlsWorld {
	t.Helper()
	w := &tlsWorld{world: newWorld(t), reports: &recordingReports{}, logs: &testlog.Buffer{}}
	var err error
	if w.ca, err = testcert.New("delivery test CA"); err != nil {
		t.Fatal(err)
	}
	w.dnssec = true
	w.cfg.Logger = slog.New(slog.NewJSONHandler(w.logs, nil))
	return w
}

// start builds the policies on their own resolver and starts the engine.
func (w *tlsWorld) start() {
	w.t.Helper()
	res, err := resolver.New(resolver.Config{Servers: []string{w.dns.Addr}, Timeout: 2 * time.Second, DNSSEC: true})
	if err != nil {
		w.t.Fatal(err)
	}
	sts, err := mtasts.New(mtasts.Config{
		Resolver: res, Guard: netguard.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}),
		RootCAs: w.ca.Pool(), Port: w.port, Timeout: 5 * time.Second,
	})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(sts.Close)
	w.cfg.TLSPolicies = tlspolicy.New(tlspolicy.Config{Resolver: res, STS: sts, DANE: true, Port: w.port, RootCAs: w.ca.Pool()})
	w.cfg.TLSReports = w.reports
	w.world.start()
}

// mxCert starts an MX for domain whose certificate cert makes for its
// host name, and returns the server and the host name.
func (w *tlsWorld) mxCert(domain string, pref int, opts smtptest.Options, cert func(host string) *testcert.Pair) (*smtptest.Server, string) {
	w.t.Helper()
	ip := w.net.NextIP()
	host := fmt.Sprintf("mx-%s.%s", strings.ReplaceAll(ip, ".", "-"), domain)
	opts.Addr, opts.Hostname = w.net.Addr(ip), host
	if cert != nil {
		opts.Certificate = &cert(host).TLS
	}
	s := smtptest.NewServer(w.t, opts)
	w.addMX(domain, pref, host)
	w.dns.Set(host, dnstest.Record{Type: "A", Value: ip})
	return s, host
}

func (w *tlsWorld) issued(host string) *testcert.Pair { return w.ca.IssueHost(w.t, host) }

func selfSigned(t testing.TB) func(string) *testcert.Pair {
	return func(host string) *testcert.Pair {
		p, err := testcert.New(host, host)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
}

// tlsa publishes the 3 1 1 record of cert for host.
func (w *tlsWorld) tlsa(host string, usage int, cert *testcert.Pair) {
	sum := sha256.Sum256(cert.TLS.Leaf.RawSubjectPublicKeyInfo)
	w.dns.Set(fmt.Sprintf("_%d._tcp.%s", w.port, host), dnstest.Record{Type: "TLSA", Value: fmt.Sprintf("%d 1 1 %s", usage, hex.EncodeToString(sum[:]))})
}

// publishSTS serves an MTA-STS policy for domain on the world's port,
// and returns its policy host (whose Hits count the fetches).
func (w *tlsWorld) publishSTS(domain, policy string) *ststest.Server {
	w.t.Helper()
	addr := w.net.Addr(w.net.NextIP())
	return ststest.NewServer(w.t, addr, w.issued("mta-sts."+domain).TLS, ststest.Policy(policy)).Publish(w.dns, domain, "1")
}

// attemptLines are the engine's "delivery attempt" log lines for rcpt.
func (w *tlsWorld) attemptLines(rcpt string) []map[string]any {
	var out []map[string]any
	for _, l := range jsonLines(w.logs.String()) {
		if l["msg"] == "delivery attempt" && l["to"] == rcpt {
			out = append(out, l)
		}
	}
	return out
}

// recordingReports remembers the sessions reported for TLS reports.
type recordingReports struct {
	mu        sync.Mutex
	successes []tlsrpt.Policy
	failures  []reportedFailure
}

type reportedFailure struct {
	p tlsrpt.Policy
	f tlsrpt.Failure
}

func (r *recordingReports) Success(p tlsrpt.Policy) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.successes = append(r.successes, p)
}

func (r *recordingReports) Failure(p tlsrpt.Policy, f tlsrpt.Failure) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures = append(r.failures, reportedFailure{p, f})
}

func (r *recordingReports) snapshot() ([]tlsrpt.Policy, []reportedFailure) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]tlsrpt.Policy(nil), r.successes...), append([]reportedFailure(nil), r.failures...)
}

// delivered waits for rcpt's final result and checks it was delivered.
func (w *tlsWorld) delivered(id queue.ID, rcpt string) {
	w.t.Helper()
	if r := w.waitFinal(id, 1, 15*time.Second)[rcpt]; r.State != queue.Delivered {
		w.t.Fatalf("%s: %+v, want delivered", rcpt, r)
	}
}

// jsonLines parses JSON log lines; a line that does not parse is skipped.
func jsonLines(s string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		var l map[string]any
		if json.Unmarshal([]byte(line), &l) == nil {
			out = append(out, l)
		}
	}
	return out
}
