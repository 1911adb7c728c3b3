package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/internal/testwait"
)

// caFile writes s's certificate where delivery.smarthost.ca_file can
// name it.
func caFile(t *testing.T, s *smtptest.Server) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "smarthost-ca.pem")
	writeFile(t, path, s.CertPEM())
	return path
}

// smarthostRelay starts a smarthost that offers STARTTLS and wants AUTH
// as relay/hunter2, and a relay that sends everything there over
// STARTTLS with those credentials, its delivery.smarthost section as
// configure leaves it (which says how the certificate is checked).
func smarthostRelay(e *env, configure func(upstream *smtptest.Server, smarthost map[string]any)) (*smtptest.Server, *relay) {
	e.t.Helper()
	upstream := smtptest.NewServer(e.t, smtptest.Options{
		Addr: e.net.Addr(e.net.NextIP()), TLS: true, AuthUser: "relay", AuthPassword: "hunter2",
	})
	smarthost := map[string]any{"address": upstream.Addr(), "username": "relay", "password": "hunter2", "tls": "starttls"}
	configure(upstream, smarthost)
	return upstream, e.newRelay(map[string]any{"delivery": map[string]any{"smarthost": smarthost}}).start()
}

// TestServe_SmarthostWithAuth configures delivery.smarthost in the YAML
// file: every message goes to the smarthost over STARTTLS with AUTH (its
// certificate verified with ca_file), and no DNS is consulted.
func TestServe_SmarthostWithAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	upstream, r := smarthostRelay(e, func(s *smtptest.Server, c map[string]any) { c["ca_file"] = caFile(t, s) })
	if _, err := r.send("app@sender.example", []string{"a@nowhere.example", "b@elsewhere.example"}, message("smarthost")); err != nil {
		t.Fatal(err)
	}
	got := upstream.WaitMessages(t, 1, 15*time.Second)[0]
	if got.AuthUser != "relay" || !got.TLS || strings.Join(got.To, ",") != "a@nowhere.example,b@elsewhere.example" {
		t.Errorf("smarthost got %+v; want one authenticated TLS transaction for both recipients", got)
	}
	if q := e.dns.Queries(); len(q) != 0 {
		t.Errorf("smarthost mode queried DNS: %+v", q)
	}
}

// TestServe_DomainOverridesAndReuse sets a per-domain connection cap in
// the YAML file under a dotted domain name; the destination never sees
// more than that many connections, and they carry several messages each.
func TestServe_DomainOverridesAndReuse(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mx := e.mx("capped.example", 10, smtptest.Options{})
	mx.SetDataDelay(20 * time.Millisecond)
	r := e.newRelay(map[string]any{"delivery": map[string]any{
		"connection_idle_timeout": "5s",
		"domains":                 map[string]any{"capped.example": map[string]any{"max_connections": 2}},
	}}).start()
	const n = 12
	for i := range n {
		if _, err := r.send("app@sender.example", []string{fmt.Sprintf("u%d@capped.example", i)}, message(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	mx.WaitMessages(t, n, 20*time.Second)
	if got := mx.MaxConcurrent(); got > 2 {
		t.Errorf("peak connections %d, above delivery.domains.capped.example.max_connections 2", got)
	}
	if got := mx.Connections(); got >= n {
		t.Errorf("%d messages took %d connections; want them reused", n, got)
	}
	// The attempt line is written after the MX's 250: wait for it.
	testwait.For(t, 5*time.Second, "a log line of a second transaction on a connection (conn_use 2)", func() bool {
		return strings.Contains(r.logs(), `"conn_use":2`)
	})
}

// TestServe_SlowDestinationDoesNotHoldOthers: with 8 workers and a slow
// destination capped at 1 connection (so at most 2 workers for it), mail
// for another domain submitted behind 40 messages for the slow one is
// delivered while they still wait: no head-of-line blocking.
func TestServe_SlowDestinationDoesNotHoldOthers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	slow := e.mx("slow.example", 10, smtptest.Options{})
	slow.SetDataDelay(200 * time.Millisecond) // one connection: 5 messages/s at most
	other := e.mx("other.example", 10, smtptest.Options{})
	r := e.newRelay(map[string]any{"delivery": map[string]any{
		"workers": 8,
		"domains": map[string]any{"slow.example": map[string]any{"max_connections": 1}},
	}}).start()
	const backlog = 40
	for i := range backlog {
		if _, err := r.send("app@sender.example", []string{fmt.Sprintf("u%d@slow.example", i)}, message(fmt.Sprint("slow", i))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.send("app@sender.example", []string{"someone@other.example"}, message("other")); err != nil {
		t.Fatal(err)
	}
	before := slow.MessageCount()
	other.WaitMessages(t, 1, 15*time.Second)
	// Behind the backlog, other.example would wait for all the
	// backlog - before slow.example messages still queued.
	if got := slow.MessageCount() - before; got > 8 {
		t.Errorf("other.example's message waited for %d slow.example deliveries after it was accepted", got)
	}
	slow.WaitMessages(t, backlog, 30*time.Second)
	if got := slow.MaxConcurrent(); got > 1 {
		t.Errorf("slow.example had %d concurrent connections, above its cap of 1", got)
	}
}

// TestServe_LoopbackMXRefusedByDefault runs the binary without
// delivery.allowed_networks: an MX whose address is on loopback is not
// connected to, and the recipient fails with 5.4.6, saying why.
func TestServe_LoopbackMXRefusedByDefault(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mx := e.mx("internal.example", 10, smtptest.Options{})
	r := e.newRelay(map[string]any{"delivery": map[string]any{"allowed_networks": []any{}}}).start()
	if _, err := r.send("app@sender.example", []string{"u@internal.example"}, message("internal")); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 15*time.Second, "a 5.4.6 failure naming delivery.allowed_networks; log:\n"+r.logs(), func() bool {
		for _, l := range strings.Split(r.logs(), "\n") {
			if strings.Contains(l, `"to":"u@internal.example"`) && strings.Contains(l, `"dsn":"5.4.6"`) &&
				strings.Contains(l, "is a loopback address, not global unicast (not in delivery.allowed_networks)") {
				return true
			}
		}
		return false
	})
	if n := mx.Connections(); n != 0 {
		t.Errorf("the MX on loopback got %d connections", n)
	}
}

// TestServe_SmarthostCredentialsNeedVerifiedTLS: a smarthost (or someone
// in the path) whose certificate does not verify gets no AUTH: the mail
// is deferred, and a log line names the certificate problem. With
// insecure_skip_verify it is used, and every start warns about it.
func TestServe_SmarthostCredentialsNeedVerifiedTLS(t *testing.T) {
	t.Parallel()
	for _, insecure := range []bool{false, true} {
		t.Run(fmt.Sprint("insecure_skip_verify ", insecure), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			upstream, r := smarthostRelay(e, func(_ *smtptest.Server, c map[string]any) { c["insecure_skip_verify"] = insecure })
			if _, err := r.send("app@sender.example", []string{"a@nowhere.example"}, message("unverified")); err != nil {
				t.Fatal(err)
			}
			warned := func() bool {
				return strings.Contains(r.logs(), `"level":"WARN","msg":"delivery: delivery.smarthost.insecure_skip_verify is set`)
			}
			if insecure {
				upstream.WaitMessages(t, 1, 15*time.Second)
				if !warned() {
					t.Errorf("no WARN line about insecure_skip_verify at start:\n%s", r.logs())
				}
				return
			}
			testwait.For(t, 15*time.Second, "a 4.7.5 deferral; log:\n"+r.logs(), func() bool { return strings.Contains(r.logs(), `"dsn":"4.7.5"`) })
			if !strings.Contains(r.logs(), "certificate not verified; mail deferred, no AUTH sent") || !strings.Contains(r.logs(), "x509: certificate signed by unknown authority") {
				t.Errorf("no log line names the certificate problem:\n%s", r.logs())
			}
			if n := upstream.AuthAttempts(); n != 0 || upstream.MessageCount() != 0 || warned() {
				t.Errorf("AUTH attempts %d, messages %d, insecure warning %v; want none", n, upstream.MessageCount(), warned())
			}
		})
	}
}
