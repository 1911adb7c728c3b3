package mtasts_test

import (
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/mxout/mxout/internal/netguard"
	"github.com/mxout/mxout/internal/ststest"
	"github.com/mxout/mxout/internal/testcert"
	"github.com/mxout/mxout/internal/testclock"
	"github.com/mxout/mxout/internal/testnet"
	"github.com/mxout/mxout/mtasts"
	"github.com/mxout/mxout/resolver"
	"github.com/mxout/mxout/resolver/dnstest"
)

const enforcePolicy = "version: STSv1\r\nmode: enforce\r\nmx: mx.sts.example\r\nmx: *.mx.sts.example\r\nmax_age: 86400\r\n"

// world is a test's network: a DNS server, and HTTPS policy servers on a
// private loopback /24 at one port.
type world struct {
	t   *testing.T
	net *testnet.Net
	dns *dnstest.Server
	res *resolver.Resolver
	clk *testclock.Clock // of the resolver's cache and of the Caches
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{t: t, net: testnet.New(t), dns: dnstest.NewServer(t, nil), clk: testclock.New(time.Now())}
	r, err := resolver.New(resolver.Config{Servers: []string{w.dns.Addr}, Timeout: 2 * time.Second, Now: w.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	w.res = r
	return w
}

// cache returns a Cache on w's network that may reach loopback, unless
// a guard is given.
func (w *world) cache(cfg mtasts.Config, guard ...netguard.Guard) *mtasts.Cache {
	w.t.Helper()
	cfg.Resolver = w.res
	cfg.Guard = netguard.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})
	if len(guard) > 0 {
		cfg.Guard = guard[0]
	}
	cfg.Port = w.net.Port
	cfg.Now = w.clk.Now
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	c, err := mtasts.New(cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(c.Close)
	return c
}

// policyServer serves HTTPS for mta-sts.<domain> with h, under a
// certificate from the test CA (or cert, when not nil), and publishes
// the TXT record with id and the A record of the policy host.
func (w *world) policyServer(domain, id string, cert *testcert.Pair, h http.HandlerFunc) *ststest.Server {
	w.t.Helper()
	if cert == nil {
		cert = testCA.IssueHost(w.t, "mta-sts."+domain)
	}
	return ststest.NewServer(w.t, w.net.Addr(w.net.NextIP()), cert.TLS, h).Publish(w.dns, domain, id)
}

// serve answers with body as the policy file.
func serve(body string) http.HandlerFunc { return ststest.Policy(body) }

// down is a policy host that answers 503.
var down = ststest.Policy("")
