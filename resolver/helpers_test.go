package resolver_test

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/mxout/mxout/internal/testclock"
	"github.com/mxout/mxout/resolver"
	"github.com/mxout/mxout/resolver/dnstest"
)

// fixtures is the test zone; each name says what it exercises.
func fixtures() map[string][]dnstest.Record {
	mx := func(v string) dnstest.Record { return dnstest.Record{Type: "MX", Value: v} }
	a := func(v string) dnstest.Record { return dnstest.Record{Type: "A", Value: v} }
	cname := func(v string) dnstest.Record { return dnstest.Record{Type: "CNAME", Value: v} }
	var big []dnstest.Record // 100 A records: about 1.7 kB, over the 1232 EDNS0 size
	for i := range 100 {
		big = append(big, a(fmt.Sprintf("127.0.%d.%d", 2+i/250, 1+i%250)))
	}
	return map[string][]dnstest.Record{
		"example":              {{Type: "SOA", Value: "ns.example. hostmaster.example. 1 3600 600 86400 120", TTL: 300}},
		"sorted.example":       {mx("30 mx-c.sorted.example."), mx("10 MX-A.Sorted.Example."), mx("20 mx-b.sorted.example.")},
		"eq.example":           {mx("10 mx1.eq.example."), mx("10 mx2.eq.example."), mx("20 backup.eq.example.")},
		"implicit.example":     {a("127.0.0.21")},
		"nullmx.example":       {mx("0 .")},
		"mixednull.example":    {mx("0 ."), mx("10 mx.mixednull.example.")},
		"servfail.example":     {mx("10 mx.servfail.example.")},
		"slow.example":         {mx("10 mx.slow.example.")},
		"cname.example":        {{Type: "CNAME", Value: "target.cname.example.", TTL: 45}},
		"target.cname.example": {mx("10 mx.target.example."), a("127.0.0.31")},
		"hop1.example":         {cname("hop2.example.")},
		"hop2.example":         {cname("hop3.example.")}, // dnstest answers one hop: the resolver asks again
		"hop3.example":         {mx("5 mx.hop3.example.")},
		"loop1.example":        {cname("loop2.example.")},
		"loop2.example":        {cname("loop1.example.")},
		"dangling.example":     {cname("gone.example.")},
		"badtarget.example":    {mx("10 bad\\032target.example.")},
		"ttl.example":          {{Type: "MX", Value: "10 mx.ttl.example.", TTL: 30}},
		"longttl.example":      {{Type: "MX", Value: "10 mx.longttl.example.", TTL: 86400}},
		"dual.example":         {a("127.0.0.41"), {Type: "AAAA", Value: "::1"}, a("127.0.0.42"), {Type: "AAAA", Value: "fd00::2"}},
		"v6only.example":       {{Type: "AAAA", Value: "fd00::6"}},
		"big.example":          big,
		"noaddr.example":       {{Type: "TXT", Value: `"no address here"`}},
	}
}

// newResolver returns a Resolver asking servers (addresses) in order.
func newResolver(t *testing.T, cfg resolver.Config, servers ...string) *resolver.Resolver {
	t.Helper()
	cfg.Servers = servers
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	r, err := resolver.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

// newFakeClock is a clock that moves only when told.
func newFakeClock() *testclock.Clock {
	return testclock.New(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
}

// observation is one ObserveLookup call.
type observation struct{ qtype, result string }

type recorder struct {
	mu  sync.Mutex
	obs []observation
}

func (r *recorder) ObserveLookup(qtype, result string, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.obs = append(r.obs, observation{qtype, result})
}

func (r *recorder) take() []observation {
	r.mu.Lock()
	defer r.mu.Unlock()
	obs := r.obs
	r.obs = nil
	return obs
}

// closedPort returns a loopback UDP address nobody listens on: queries to
// it fail at once with "connection refused".
func closedPort(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

// blackHole returns a loopback UDP address that receives but never answers.
func blackHole(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().String()
}

// countQueries counts the queries for name and qtype that s received.
func countQueries(s *dnstest.Server, name, qtype string) int {
	n := 0
	for _, q := range s.Queries() {
		if q.Name == name && q.Type == qtype {
			n++
		}
	}
	return n
}
