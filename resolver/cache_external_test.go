package resolver_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mxout/mxout/resolver"
	"github.com/mxout/mxout/resolver/dnstest"
)

// TestCacheExpiry looks a name up, moves the clock, and checks when the
// server is asked again.
func TestCacheExpiry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		lookup  func(r *resolver.Resolver, name string) error
		domain  string
		qtype   string
		fresh   time.Duration // still cached this long after the first lookup
		stale   time.Duration // asked again this long after it
		wantErr bool
	}{
		{"positive, record TTL 30s", lookupMX, "ttl.example", "MX", 29 * time.Second, 30 * time.Second, false},
		{"positive, TTL capped at 1h", lookupMX, "longttl.example", "MX", 59 * time.Minute, time.Hour, false},
		{"CNAME chain, smallest TTL (CNAME 45s)", lookupMX, "cname.example", "MX", 44 * time.Second, 45 * time.Second, false},
		{"NXDOMAIN, SOA minimum 120s", lookupMX, "nxdomain.example", "MX", 119 * time.Second, 120 * time.Second, true},
		{"NODATA, SOA minimum 120s", lookupMX, "implicit.example", "MX", 119 * time.Second, 120 * time.Second, false},
		{"NXDOMAIN without SOA, 60s", lookupMX, "nxdomain.nosoa", "MX", 59 * time.Second, 60 * time.Second, true},
		{"A record, TTL 60s", lookupAddrs, "implicit.example", "A", 59 * time.Second, 60 * time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := dnstest.NewServer(t, fixtures())
			clock := newFakeClock()
			r := newResolver(t, resolver.Config{Now: clock.Now}, srv.Addr)
			check := func(step string, wantQueries int) {
				t.Helper()
				if err := tt.lookup(r, tt.domain); (err != nil) != tt.wantErr {
					t.Fatalf("%s: lookup error %v, want error %v", step, err, tt.wantErr)
				}
				if n := countQueries(srv, tt.domain, tt.qtype); n != wantQueries {
					t.Fatalf("%s: server got %d %s queries, want %d", step, n, tt.qtype, wantQueries)
				}
			}
			check("first lookup", 1)
			check("cache hit", 1)
			clock.Advance(tt.fresh)
			check("before expiry", 1)
			clock.Advance(tt.stale - tt.fresh)
			check("after expiry", 2)
		})
	}
}

func lookupMX(r *resolver.Resolver, name string) error {
	_, err := r.LookupMX(context.Background(), name)
	return err
}

func lookupAddrs(r *resolver.Resolver, name string) error {
	_, err := r.LookupAddrs(context.Background(), name)
	return err
}

func TestTemporaryErrorsNotCached(t *testing.T) {
	t.Parallel()
	srv := dnstest.NewServer(t, fixtures())
	srv.Fail("servfail.example", "MX", dns.RcodeServerFailure)
	r := newResolver(t, resolver.Config{}, srv.Addr)
	for range 2 {
		if _, err := r.LookupMX(context.Background(), "servfail.example"); err == nil {
			t.Fatal("LookupMX succeeded, want SERVFAIL")
		}
	}
	if n := countQueries(srv, "servfail.example", "MX"); n != 2 {
		t.Errorf("server got %d queries, want 2", n)
	}
	srv.Fail("servfail.example", "MX", dns.RcodeSuccess)
	if _, err := r.LookupMX(context.Background(), "servfail.example"); err != nil {
		t.Errorf("after recovery: %v", err)
	}
}

func TestObserver(t *testing.T) {
	t.Parallel()
	srv := dnstest.NewServer(t, fixtures())
	srv.Fail("servfail.example", "MX", dns.RcodeServerFailure)
	slow := dnstest.NewServer(t, fixtures())
	slow.Delay(5 * time.Second)
	rec := &recorder{}
	r := newResolver(t, resolver.Config{Observer: rec, Timeout: 200 * time.Millisecond}, srv.Addr)
	rSlow := newResolver(t, resolver.Config{Observer: rec, Timeout: 100 * time.Millisecond}, slow.Addr)

	tests := []struct {
		name string
		call func() error
		want []observation
	}{
		{"ok", func() error { return lookupMX(r, "sorted.example") }, []observation{{"MX", "ok"}}},
		{"cache hit not observed", func() error { return lookupMX(r, "sorted.example") }, nil},
		{"null MX is an ok lookup", func() error { return lookupMX(r, "nullmx.example") }, []observation{{"MX", "ok"}}},
		{"nxdomain", func() error { return lookupMX(r, "nxdomain.example") }, []observation{{"MX", "nxdomain"}}},
		{"nodata", func() error { return lookupMX(r, "implicit.example") }, []observation{{"MX", "nodata"}}},
		{"servfail", func() error { return lookupMX(r, "servfail.example") }, []observation{{"MX", "servfail"}}},
		{"CNAME loop", func() error { return lookupMX(r, "loop1.example") }, []observation{{"MX", "error"}}},
		{"invalid name not observed", func() error { return lookupMX(r, "bad name") }, nil},
		{"addresses", func() error { return lookupAddrs(r, "v6only.example") }, []observation{{"A", "nodata"}, {"AAAA", "ok"}}},
		{"timeout", func() error { return lookupMX(rSlow, "slow.example") }, []observation{{"MX", "timeout"}}},
	}
	for _, tt := range tests { // sequential: the recorder is shared
		_ = tt.call()
		got := rec.take()
		slices.SortFunc(got, func(a, b observation) int { return strings.Compare(a.qtype, b.qtype) })
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: observed %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestConcurrentLookups gives the race detector shared cache and rand use.
func TestConcurrentLookups(t *testing.T) {
	t.Parallel()
	srv := dnstest.NewServer(t, fixtures())
	r := newResolver(t, resolver.Config{}, srv.Addr)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			for _, d := range []string{"eq.example", "sorted.example", "cname.example", "nxdomain.example"} {
				_, _ = r.LookupMX(context.Background(), d)
			}
			_, _ = r.LookupAddrs(context.Background(), "dual.example")
		})
	}
	wg.Wait()
}
