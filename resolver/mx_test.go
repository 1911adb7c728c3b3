package resolver_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/mxout/mxout/resolver"
	"github.com/mxout/mxout/resolver/dnstest"
)

func TestLookupMX(t *testing.T) {
	t.Parallel()
	srv := dnstest.NewServer(t, fixtures())
	srv.Fail("servfail.example", "MX", dns.RcodeServerFailure)
	r := newResolver(t, resolver.Config{}, srv.Addr)

	tests := []struct {
		domain   string
		want     []resolver.MX
		wantKind resolver.Kind
		wantIs   error
	}{
		{domain: "sorted.example", want: []resolver.MX{
			{Host: "mx-a.sorted.example", Pref: 10},
			{Host: "mx-b.sorted.example", Pref: 20},
			{Host: "mx-c.sorted.example", Pref: 30},
		}},
		{domain: "Sorted.Example.", want: []resolver.MX{ // case and trailing dot
			{Host: "mx-a.sorted.example", Pref: 10},
			{Host: "mx-b.sorted.example", Pref: 20},
			{Host: "mx-c.sorted.example", Pref: 30},
		}},
		{domain: "implicit.example", want: []resolver.MX{{Host: "implicit.example", Pref: 0, Implicit: true}}},
		{domain: "mixednull.example", want: []resolver.MX{{Host: "mx.mixednull.example", Pref: 10}}},
		{domain: "cname.example", want: []resolver.MX{{Host: "mx.target.example", Pref: 10}}},
		{domain: "hop1.example", want: []resolver.MX{{Host: "mx.hop3.example", Pref: 5}}},
		{domain: "nullmx.example", wantKind: resolver.KindNullMX, wantIs: resolver.ErrNullMX},
		{domain: "nxdomain.example", wantKind: resolver.KindNXDomain, wantIs: resolver.ErrNXDomain},
		{domain: "dangling.example", wantKind: resolver.KindNXDomain, wantIs: resolver.ErrNXDomain},
		{domain: "servfail.example", wantKind: resolver.KindServerFailure},
		{domain: "loop1.example", wantKind: resolver.KindCNAME},
		{domain: "badtarget.example", wantKind: resolver.KindMalformed},
		{domain: "bad domain.example", wantKind: resolver.KindInvalidName, wantIs: resolver.ErrInvalidName},
		{domain: "", wantKind: resolver.KindInvalidName, wantIs: resolver.ErrInvalidName},
		{domain: "a..example", wantKind: resolver.KindInvalidName, wantIs: resolver.ErrInvalidName},
	}
	for _, tt := range tests {
		t.Run(tt.domain, func(t *testing.T) {
			t.Parallel()
			got, err := r.LookupMX(context.Background(), tt.domain)
			if tt.wantKind == 0 {
				if err != nil {
					t.Fatalf("LookupMX: %v", err)
				}
				if !slices.Equal(got, tt.want) {
					t.Fatalf("LookupMX = %v, want %v", got, tt.want)
				}
				return
			}
			var e *resolver.Error
			if !errors.As(err, &e) || e.Kind != tt.wantKind {
				t.Fatalf("LookupMX = %v, %v; want an *Error of kind %v", got, err, tt.wantKind)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.wantIs)
			}
			wantPermanent := tt.wantKind == resolver.KindNullMX || tt.wantKind == resolver.KindNXDomain ||
				tt.wantKind == resolver.KindInvalidName
			if e.Permanent() != wantPermanent || e.Temporary() == wantPermanent {
				t.Errorf("Permanent()=%v Temporary()=%v, want permanent %v", e.Permanent(), e.Temporary(), wantPermanent)
			}
			if e.QType != "MX" {
				t.Errorf("QType = %q, want MX", e.QType)
			}
		})
	}
}

func TestLookupMXShufflesEqualPreferences(t *testing.T) {
	t.Parallel()
	srv := dnstest.NewServer(t, fixtures())
	r := newResolver(t, resolver.Config{Rand: rand.New(rand.NewPCG(1, 2))}, srv.Addr)

	seen := map[string]bool{}
	for range 50 {
		mxs, err := r.LookupMX(context.Background(), "eq.example")
		if err != nil {
			t.Fatal(err)
		}
		if len(mxs) != 3 || mxs[0].Pref != 10 || mxs[1].Pref != 10 || mxs[2].Host != "backup.eq.example" {
			t.Fatalf("LookupMX = %v, want the two pref-10 hosts first, then backup", mxs)
		}
		seen[mxs[0].Host+","+mxs[1].Host] = true
	}
	if !seen["mx1.eq.example,mx2.eq.example"] || !seen["mx2.eq.example,mx1.eq.example"] {
		t.Errorf("orders seen in 50 lookups: %v, want both", seen)
	}
	if n := countQueries(srv, "eq.example", "MX"); n != 1 {
		t.Errorf("server got %d MX queries, want 1 (the rest from cache)", n)
	}
}

func TestErrorText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  *resolver.Error
		want string
	}{
		{&resolver.Error{Domain: "nullmx.example", QType: "MX", Kind: resolver.KindNullMX}, "resolve MX nullmx.example: domain accepts no mail"},
		{&resolver.Error{Domain: "a\nb", QType: "MX", Kind: resolver.KindInvalidName, Err: errors.New("invalid byte")}, `resolve MX "a\nb": invalid domain name: invalid byte`},
		{&resolver.Error{Domain: "x.example", QType: "A", Kind: resolver.KindTimeout, Err: context.DeadlineExceeded}, "resolve A x.example: timeout: context deadline exceeded"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); !strings.HasPrefix(got, tt.want) {
			t.Errorf("Error() = %q, want prefix %q", got, tt.want)
		}
	}
	if err := error(tests[2].err); !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, resolver.ErrNXDomain) {
		t.Errorf("Unwrap/Is wrong for %v", err)
	}
}
