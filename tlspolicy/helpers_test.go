package tlspolicy_test

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/mxout/mxout/internal/netguard"
	"github.com/mxout/mxout/internal/ststest"
	"github.com/mxout/mxout/internal/testcert"
	"github.com/mxout/mxout/internal/testnet"
	"github.com/mxout/mxout/mtasts"
	"github.com/mxout/mxout/resolver"
	"github.com/mxout/mxout/resolver/dnstest"
	"github.com/mxout/mxout/tlspolicy"
)

// world is a test's DNS (a validating resolver's view), its MTA-STS
// policy hosts, and the certificates of a test CA.
type world struct {
	t   *testing.T
	ca  *testcert.Pair
	net *testnet.Net
	dns *dnstest.Server
	res *resolver.Resolver
	sts *mtasts.Cache
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{t: t, net: testnet.New(t), dns: dnstest.NewServer(t, nil)}
	var err error
	if w.ca, err = testcert.New("tlspolicy test CA"); err != nil {
		t.Fatal(err)
	}
	if w.res, err = resolver.New(resolver.Config{Servers: []string{w.dns.Addr}, Timeout: 2 * time.Second, DNSSEC: true}); err != nil {
		t.Fatal(err)
	}
	w.sts, err = mtasts.New(mtasts.Config{
		Resolver: w.res, Guard: netguard.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}),
		RootCAs: w.ca.Pool(), Port: w.net.Port, Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.sts.Close)
	return w
}

// policies returns Policies on w with DANE on or off.
func (w *world) policies(daneOn bool) *tlspolicy.Policies {
	return tlspolicy.New(tlspolicy.Config{Resolver: w.res, STS: w.sts, DANE: daneOn, Port: 25, RootCAs: w.ca.Pool()})
}

// publishSTS serves policy for domain from a policy host with a
// certificate of the CA, and publishes its TXT record.
func (w *world) publishSTS(domain, policy string) {
	w.t.Helper()
	addr := w.net.Addr(w.net.NextIP())
	ststest.NewServer(w.t, addr, w.issue("mta-sts."+domain).TLS, ststest.Policy(policy)).Publish(w.dns, domain, "1")
}

func (w *world) issue(host string) *testcert.Pair { return w.ca.IssueHost(w.t, host) }

// tlsaOf is the 3 1 1 record of cert, in zone-file form.
func tlsaOf(p *testcert.Pair) string {
	sum := sha256.Sum256(p.TLS.Leaf.RawSubjectPublicKeyInfo)
	return "3 1 1 " + hex.EncodeToString(sum[:])
}

// handshake runs a real TLS handshake on loopback between a server with
// cert and a client configured by h, and returns what h.Check says of it.
// The client goes on whatever Check says, so that the result is Check's.
func handshake(t *testing.T, h *tlspolicy.Host, cert *testcert.Pair) *tlspolicy.Failure {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		s := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert.TLS}})
		s.SetDeadline(time.Now().Add(10 * time.Second))
		s.Handshake()
		s.Read(make([]byte, 1))
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var f *tlspolicy.Failure
	cfg := h.TLSConfig()
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if cs.ServerName != h.MX {
			t.Errorf("SNI %q, want %q", cs.ServerName, h.MX)
		}
		f = h.Check(cs)
		return nil
	}
	tc := tls.Client(c, cfg)
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	return f
}
