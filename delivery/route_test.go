package delivery

import (
	"crypto/x509"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/internal/testlog"
	"github.com/mxout/mxout/queue"
	"github.com/mxout/mxout/resolver/dnstest"
)

// ipv6MX starts an MX on [::1] at the world's port, published as host
// mx.domain with an AAAA record for ::1 and an A record for a loopback
// address where nothing listens. It skips the test without configs.IPv6.
func (w *world) ipv6MX(domain string) (*smtptest.Server, string) {
	w.t.Helper()
	addr := net.JoinHostPort("::1", strconv.Itoa(w.port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		w.t.Skipf("cannot listen on %s: %v", addr, err)
	}
	ln.Close()
	s := smtptest.NewServer(w.t, smtptest.Options{Addr: addr})
	v4 := w.net.NextIP() // refuses connections
	host := "mx." + domain
	w.addMX(domain, 10, host)
	w.dns.Set(host, dnstest.Record{Type: "A", Value: v4}, dnstest.Record{Type: "AAAA", Value: "::1"})
	return s, v4
}

func TestDeliver_IPFamily(t *testing.T) {
	t.Parallel()
	tests := []struct {
		family     configs.IPFamily
		wantState  queue.State
		wantStatus string
	}{
		{family: configs.IPAny, wantState: queue.Delivered, wantStatus: "2.0.0"}, // A refused, then AAAA
		{family: configs.IPv6, wantState: queue.Delivered, wantStatus: "2.0.0"},
		{family: configs.IPv4, wantState: queue.Pending, wantStatus: "4.4.1"}, // only the refusing A
	}
	for _, tt := range tests {
		t.Run(string(tt.family), func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			mx, _ := w.ipv6MX("dual.example")
			w.cfg.IPFamily = tt.family
			w.start()
			id := w.enqueue("app@sender.example", "u@dual.example")
			if r := w.firstResult(id, "u@dual.example"); r.State != tt.wantState || r.Status != tt.wantStatus {
				t.Errorf("result = %+v, want %v %s", r, tt.wantState, tt.wantStatus)
			}
			msgs := mx.Messages()
			if tt.wantState == queue.Delivered && (len(msgs) != 1 || !strings.HasPrefix(msgs[0].RemoteAddr, "[::1]:")) {
				t.Errorf("messages on ::1: %+v", msgs)
			}
		})
	}
}

func TestDeliver_SourceAddress(t *testing.T) {
	t.Parallel()
	t.Run("binds outgoing connections", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		mx := w.mx("src.example", 10, smtptest.Options{})
		src := w.net.IP(5)
		w.cfg.SourceAddr = netip.MustParseAddr(src)
		w.start()
		id := w.enqueue("app@sender.example", "u@src.example")
		w.waitFinal(id, 1, 10*time.Second)
		msgs := mx.Messages()
		if len(msgs) != 1 || !strings.HasPrefix(msgs[0].RemoteAddr, src+":") {
			t.Errorf("messages %+v, want one from %s", msgs, src)
		}
	})
	t.Run("skips addresses of the other family", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		mx, _ := w.ipv6MX("v6only.example")
		w.dns.Set("mx.v6only.example", dnstest.Record{Type: "AAAA", Value: "::1"})
		w.cfg.SourceAddr = netip.MustParseAddr(w.net.IP(5))
		w.start()
		id := w.enqueue("app@sender.example", "u@v6only.example")
		r := w.firstResult(id, "u@v6only.example")
		if r.State != queue.Pending || r.Status != "4.4.4" || !strings.Contains(r.Response, "source_address") {
			t.Errorf("result = %+v, want a 4.4.4 deferral naming the setting", r)
		}
		if mx.Connections() != 0 {
			t.Error("an configs.IPv4 source address connected to an configs.IPv6 destination")
		}
	})
}

func TestDeliver_Smarthost(t *testing.T) {
	t.Parallel()
	const user, pass = "relay-user", "s3cret"
	tests := []struct {
		name       string
		tls        configs.TLSMode
		opts       smtptest.Options
		user       string
		password   string
		trust      bool // Smarthost.RootCAs holds the smarthost's certificate
		insecure   bool // Smarthost.InsecureSkipVerify
		wantState  queue.State
		wantStatus string
		wantTLS    bool
		wantAuth   bool // AUTH reached the smarthost
	}{
		{name: "starttls with AUTH", tls: configs.TLSStartTLS, opts: smtptest.Options{TLS: true}, user: user, password: pass, trust: true,
			wantState: queue.Delivered, wantStatus: "2.0.0", wantTLS: true, wantAuth: true},
		{name: "implicit TLS with AUTH", tls: configs.TLSImplicit, opts: smtptest.Options{Implicit: true}, user: user, password: pass, trust: true,
			wantState: queue.Delivered, wantStatus: "2.0.0", wantTLS: true, wantAuth: true},
		{name: "starttls not offered", tls: configs.TLSStartTLS, opts: smtptest.Options{}, user: user, password: pass,
			wantState: queue.Pending, wantStatus: "4.7.10"},
		{name: "wrong password defers", tls: configs.TLSStartTLS, opts: smtptest.Options{TLS: true}, user: user, password: "wrong", trust: true,
			wantState: queue.Pending, wantStatus: "4.7.8", wantAuth: true},
		// An active attacker answers with a certificate of their own: the
		// password must not go to them.
		{name: "starttls with AUTH, certificate not trusted", tls: configs.TLSStartTLS, opts: smtptest.Options{TLS: true}, user: user, password: pass,
			wantState: queue.Pending, wantStatus: "4.7.5"},
		{name: "implicit TLS with AUTH, certificate not trusted", tls: configs.TLSImplicit, opts: smtptest.Options{Implicit: true}, user: user, password: pass,
			wantState: queue.Pending, wantStatus: "4.7.5"},
		{name: "insecure_skip_verify accepts it", tls: configs.TLSStartTLS, opts: smtptest.Options{TLS: true}, user: user, password: pass, insecure: true,
			wantState: queue.Delivered, wantStatus: "2.0.0", wantTLS: true, wantAuth: true},
		{name: "no credentials, certificate not verified", tls: configs.TLSStartTLS, opts: smtptest.Options{TLS: true},
			wantState: queue.Delivered, wantStatus: "2.0.0", wantTLS: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			tt.opts.Addr = w.net.Addr(w.net.NextIP())
			if tt.user != "" {
				tt.opts.AuthUser, tt.opts.AuthPassword = user, pass
			}
			relay := smtptest.NewServer(t, tt.opts)
			w.cfg.Smarthost = Smarthost{Address: hostPort(t, relay.Addr()), Username: tt.user, Password: tt.password, TLS: tt.tls, InsecureSkipVerify: tt.insecure}
			if tt.trust {
				w.cfg.Smarthost.RootCAs = x509.NewCertPool()
				w.cfg.Smarthost.RootCAs.AppendCertsFromPEM(relay.CertPEM())
			}
			logs := &testlog.Buffer{}
			w.cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
			w.start()
			// No DNS records at all: a lookup would fail the recipients.
			id := w.enqueue("app@sender.example", "a@one.example", "b@two.example")
			r := w.firstResult(id, "a@one.example")
			if r.State != tt.wantState || r.Status != tt.wantStatus {
				t.Fatalf("result = %+v, want %v %s", r, tt.wantState, tt.wantStatus)
			}
			if q := w.dns.Queries(); len(q) != 0 {
				t.Errorf("smarthost mode looked up DNS: %+v", q)
			}
			if got := relay.AuthAttempts() > 0; got != tt.wantAuth {
				t.Errorf("AUTH reached the smarthost: %v, want %v", got, tt.wantAuth)
			}
			if tt.wantStatus == "4.7.5" && (!strings.Contains(logs.String(), "certificate not verified; mail deferred, no AUTH sent") ||
				!strings.Contains(logs.String(), "x509: certificate signed by unknown authority")) {
				t.Errorf("no log line names the certificate problem:\n%s", logs.String())
			}
			if tt.insecure != strings.Contains(logs.String(), "insecure_skip_verify is set") {
				t.Errorf("insecure_skip_verify %v, but its warning at start: %v", tt.insecure, !tt.insecure)
			}
			if tt.wantState != queue.Delivered {
				return
			}
			w.waitFinal(id, 2, 10*time.Second)
			msgs := relay.Messages()
			if len(msgs) != 1 || len(msgs[0].To) != 2 || msgs[0].AuthUser != tt.user || msgs[0].TLS != tt.wantTLS {
				t.Errorf("smarthost got %+v; want one transaction for both domains, AUTH %q, TLS %v", msgs, tt.user, tt.wantTLS)
			}
		})
	}
}

// Credentials never go over a smarthost connection without TLS: such a
// configuration is refused.
func TestNew_SmarthostCredentialsNeedTLS(t *testing.T) {
	t.Parallel()
	cfg := Config{Workers: 1, Port: 25, HeloName: "relay.test.invalid", TLS: configs.TLSOpportunistic, MaxConnectionsPerDomain: 1,
		Smarthost: Smarthost{Address: hostPort(t, "127.0.0.1:2526"), Username: "u", Password: "p", TLS: configs.TLSNone}}
	if _, err := New(cfg, nil, nil); err == nil || !strings.Contains(err.Error(), "credentials need TLS") {
		t.Errorf("New = %v, want an error about credentials without TLS", err)
	}
}
