package resolver_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mxout/mxout/resolver"
	"github.com/mxout/mxout/resolver/dnstest"
)

func TestTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 200 * time.Millisecond
	tests := []struct {
		name       string
		ctxTimeout time.Duration // 0: none
		cancel     bool          // cancel the context before the lookup
		wantKind   resolver.Kind
		maxElapsed time.Duration
	}{
		{name: "per-attempt timeout", wantKind: resolver.KindTimeout, maxElapsed: timeout + 300*time.Millisecond},
		{name: "context deadline first", ctxTimeout: 50 * time.Millisecond, wantKind: resolver.KindTimeout, maxElapsed: 250 * time.Millisecond},
		{name: "context cancelled", cancel: true, wantKind: resolver.KindNetwork, maxElapsed: 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := dnstest.NewServer(t, fixtures())
			srv.Delay(5 * time.Second)
			r := newResolver(t, resolver.Config{Timeout: timeout}, srv.Addr)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.ctxTimeout > 0 {
				ctx, cancel = context.WithTimeout(ctx, tt.ctxTimeout)
				defer cancel()
			}
			if tt.cancel {
				cancel()
			}
			start := time.Now()
			_, err := r.LookupMX(ctx, "slow.example")
			elapsed := time.Since(start)
			var e *resolver.Error
			if !errors.As(err, &e) || e.Kind != tt.wantKind || !e.Temporary() {
				t.Fatalf("LookupMX error %v, want a temporary %v", err, tt.wantKind)
			}
			if elapsed > tt.maxElapsed {
				t.Errorf("took %v, want at most %v", elapsed, tt.maxElapsed)
			}
		})
	}
}

func TestFailover(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		first func(t *testing.T) string
	}{
		{"closed port", closedPort},
		{"unresponsive", blackHole},
		{"servfail", func(t *testing.T) string {
			s := dnstest.NewServer(t, fixtures())
			s.Fail("sorted.example", "MX", dns.RcodeServerFailure)
			return s.Addr
		}},
		{"refused", func(t *testing.T) string {
			s := dnstest.NewServer(t, fixtures())
			s.Fail("sorted.example", "MX", dns.RcodeRefused)
			return s.Addr
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			good := dnstest.NewServer(t, fixtures())
			r := newResolver(t, resolver.Config{Timeout: 200 * time.Millisecond}, tt.first(t), good.Addr)
			mxs, err := r.LookupMX(context.Background(), "sorted.example")
			if err != nil || len(mxs) != 3 {
				t.Fatalf("LookupMX = %v, %v; want the second server's 3 MX", mxs, err)
			}
		})
	}
}

func TestAllServersFail(t *testing.T) {
	t.Parallel()
	a, b := dnstest.NewServer(t, fixtures()), dnstest.NewServer(t, fixtures())
	a.Fail("sorted.example", "MX", dns.RcodeServerFailure)
	b.Fail("sorted.example", "MX", dns.RcodeServerFailure)
	r := newResolver(t, resolver.Config{}, a.Addr, b.Addr)
	_, err := r.LookupMX(context.Background(), "sorted.example")
	var e *resolver.Error
	if !errors.As(err, &e) || e.Kind != resolver.KindServerFailure || e.Permanent() {
		t.Fatalf("LookupMX error %v, want a temporary server failure", err)
	}
	if countQueries(a, "sorted.example", "MX") != 1 || countQueries(b, "sorted.example", "MX") != 1 {
		t.Errorf("want one query to each server, got %v and %v", a.Queries(), b.Queries())
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  resolver.Config
	}{
		{"zero timeout", resolver.Config{Servers: []string{"127.0.0.1:53"}}},
		{"negative timeout", resolver.Config{Servers: []string{"127.0.0.1:53"}, Timeout: -time.Second}},
		{"server without port", resolver.Config{Servers: []string{"127.0.0.1"}, Timeout: time.Second}},
	}
	for _, tt := range tests {
		if _, err := resolver.New(tt.cfg); err == nil {
			t.Errorf("%s: New succeeded, want an error", tt.name)
		}
	}
}
