package resolver_test

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"

	"github.com/miekg/dns"

	"github.com/mxout/mxout/resolver"
	"github.com/mxout/mxout/resolver/dnstest"
)

func TestLookupAddrs(t *testing.T) {
	t.Parallel()
	srv := dnstest.NewServer(t, fixtures())
	srv.Fail("servfail.example", "A", dns.RcodeServerFailure)
	srv.Fail("servfail.example", "AAAA", dns.RcodeServerFailure)
	srv.Fail("v6only.example", "A", dns.RcodeServerFailure) // AAAA still answers
	r := newResolver(t, resolver.Config{}, srv.Addr)

	addrs := func(s ...string) []netip.Addr {
		var out []netip.Addr
		for _, a := range s {
			out = append(out, netip.MustParseAddr(a))
		}
		return out
	}
	tests := []struct {
		host     string
		want     []netip.Addr
		wantKind resolver.Kind
	}{
		{host: "dual.example", want: addrs("127.0.0.41", "127.0.0.42", "::1", "fd00::2")},
		{host: "implicit.example", want: addrs("127.0.0.21")},
		{host: "v6only.example", want: addrs("fd00::6")},
		{host: "cname.example", want: addrs("127.0.0.31")},
		{host: "nxdomain.example", wantKind: resolver.KindNXDomain},
		{host: "noaddr.example", wantKind: resolver.KindNoData},
		{host: "servfail.example", wantKind: resolver.KindServerFailure},
		{host: "bad_host!", wantKind: resolver.KindInvalidName},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			t.Parallel()
			got, err := r.LookupAddrs(context.Background(), tt.host)
			if tt.wantKind == 0 {
				if err != nil || !slices.Equal(got, tt.want) {
					t.Fatalf("LookupAddrs = %v, %v; want %v", got, err, tt.want)
				}
				return
			}
			var e *resolver.Error
			if !errors.As(err, &e) || e.Kind != tt.wantKind {
				t.Fatalf("LookupAddrs = %v, %v; want kind %v", got, err, tt.wantKind)
			}
			if wantPerm := tt.wantKind == resolver.KindNXDomain || tt.wantKind == resolver.KindInvalidName; e.Permanent() != wantPerm {
				t.Errorf("Permanent() = %v, want %v", e.Permanent(), wantPerm)
			}
		})
	}
}

// TestTCPFallback serves an answer larger than the advertised EDNS0 size:
// the UDP answer comes back truncated and the resolver asks again over TCP.
func TestTCPFallback(t *testing.T) {
	t.Parallel()
	srv := dnstest.NewServer(t, fixtures())
	r := newResolver(t, resolver.Config{}, srv.Addr)

	got, err := r.LookupAddrs(context.Background(), "big.example")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 100 {
		t.Fatalf("got %d addresses, want all 100", len(got))
	}
	// One UDP (truncated) and one TCP query for A.
	if n := countQueries(srv, "big.example", "A"); n != 2 {
		t.Errorf("server got %d A queries, want 2 (UDP then TCP)", n)
	}
}
