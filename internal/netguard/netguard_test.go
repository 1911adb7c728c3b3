package netguard_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/mxout/mxout/internal/netguard"
	"github.com/mxout/mxout/internal/testnet"
	"github.com/mxout/mxout/resolver"
	"github.com/mxout/mxout/resolver/dnstest"
)

func TestNonGlobal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr string
		want string // "" for global unicast
	}{
		{"8.8.8.8", ""},
		{"192.0.0.9", ""}, // PCP anycast: a global exception inside 192.0.0.0/24
		{"0.1.2.3", "this-network"},
		{"10.1.2.3", "private-use"},
		{"100.64.0.1", "shared (CGNAT)"},
		{"100.128.0.1", ""},
		{"127.0.0.1", "loopback"},
		{"127.255.255.254", "loopback"},
		{"169.254.169.254", "link-local"},
		{"172.16.0.1", "private-use"},
		{"172.31.255.255", "private-use"},
		{"172.32.0.1", ""},
		{"192.0.0.8", "IETF protocol assignment"},
		{"192.0.2.1", "documentation"},
		{"192.88.99.1", "6to4 relay anycast"},
		{"192.168.1.1", "private-use"},
		{"198.18.0.1", "benchmarking"},
		{"198.19.255.255", "benchmarking"},
		{"198.51.100.7", "documentation"},
		{"203.0.113.7", "documentation"},
		{"224.0.0.1", "multicast"},
		{"240.0.0.1", "reserved"},
		{"255.255.255.255", "reserved"},
		{"2a00:1450:4001:80b::201a", ""},
		{"::", "unspecified"},
		{"::1", "loopback"},
		{"::ffff:127.0.0.1", "loopback"}, // IPv4-mapped: judged as IPv4
		{"::ffff:8.8.8.8", ""},
		{"64:ff9b::a00:1", "NAT64 of private-use"},
		{"64:ff9b::808:808", ""},
		{"64:ff9b:1::1", "local-use translation"},
		{"100::1", "discard-only"},
		{"2001::1", "Teredo"},
		{"2001:2::1", "benchmarking"},
		{"2001:10::1", "IETF protocol assignment"},
		{"2001:4:112::1", ""}, // AS112-v6: global
		{"2001:db8::1", "documentation"},
		{"2002:a00:1::1", "6to4"},
		{"3fff::1", "documentation"},
		{"5f00::1", "segment routing"},
		{"fd00::1", "unique-local"},
		{"fc00::1", "unique-local"},
		{"fe80::1", "link-local"},
		{"ff02::1", "multicast"},
		{"4000::1", "reserved"},
		{"::a00:1", "reserved"}, // deprecated IPv4-compatible form
	}
	for _, tt := range tests {
		if got := netguard.NonGlobal(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("NonGlobal(%s) = %q, want %q", tt.addr, got, tt.want)
		}
	}
	if got := netguard.NonGlobal(netip.Addr{}); got == "" {
		t.Error("the zero Addr counts as global")
	}
}

func TestGuardAllowedNetworks(t *testing.T) {
	t.Parallel()
	g := netguard.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("fd00::1/64"),
		netip.MustParsePrefix("::ffff:10.1.0.0/112")})
	tests := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1", true},
		{"127.9.9.9", true},
		{"::ffff:127.0.0.1", true},
		{"fd00::42", true}, // the prefix is masked: fd00::/64
		{"fd01::1", false},
		{"10.0.0.1", false},
		{"10.1.2.3", true}, // an IPv4-mapped prefix counts as its IPv4 prefix
		{"::1", false},     // 127.0.0.0/8 does not cover IPv6 loopback
		{"8.8.8.8", true},
	}
	for _, tt := range tests {
		err := g.Check(netip.MustParseAddr(tt.addr))
		if (err == nil) != tt.ok || g.Allows(netip.MustParseAddr(tt.addr)) != tt.ok {
			t.Errorf("Check(%s) = %v, want allowed %v", tt.addr, err, tt.ok)
		}
		var ge *netguard.Error
		if err != nil && (!errors.As(err, &ge) || ge.Range == "") {
			t.Errorf("Check(%s) = %v, want a *netguard.Error naming the range", tt.addr, err)
		}
	}
	if err := (netguard.Guard{}).Check(netip.MustParseAddr("127.0.0.1")); err == nil {
		t.Error("the zero Guard allows loopback")
	}
}

// TestDialerUsesResolverAndGuard dials names that resolve, through the
// test DNS server and never the system's, to loopback addresses.
func TestDialerUsesResolverAndGuard(t *testing.T) {
	t.Parallel()
	_, port, _ := net.SplitHostPort(testnet.Serve(t, func(c net.Conn) { c.Close() }))
	dns := dnstest.NewServer(t, map[string][]dnstest.Record{
		"loop.example":  {{Type: "A", Value: "127.0.0.1"}},
		"mixed.example": {{Type: "A", Value: "10.0.0.1"}, {Type: "A", Value: "127.0.0.1"}},
		"priv.example":  {{Type: "A", Value: "10.0.0.1"}},
	})
	r, err := resolver.New(resolver.Config{Servers: []string{dns.Addr}, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	loopback := netguard.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})
	tests := []struct {
		name    string
		guard   netguard.Guard
		host    string
		ok      bool
		refused bool // fails with ErrNoAddress
	}{
		{"loopback refused by default", netguard.Guard{}, "loop.example", false, true},
		{"loopback exempted", loopback, "loop.example", true, false},
		{"private skipped, loopback used", loopback, "mixed.example", true, false},
		{"only private", loopback, "priv.example", false, true},
		{"IP literal checked too", netguard.Guard{}, "127.0.0.1", false, true},
		{"IP literal exempted", loopback, "127.0.0.1", true, false},
		{"system resolver never asked", loopback, "localhost", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &netguard.Dialer{Resolver: r, Guard: tt.guard}
			conn, err := d.DialContext(context.Background(), "tcp", net.JoinHostPort(tt.host, port))
			if conn != nil {
				conn.Close()
			}
			if (err == nil) != tt.ok {
				t.Fatalf("DialContext(%s) = %v, want success %v", tt.host, err, tt.ok)
			}
			if errors.Is(err, netguard.ErrNoAddress) != tt.refused {
				t.Errorf("DialContext(%s) = %v, want ErrNoAddress %v", tt.host, err, tt.refused)
			}
		})
	}
}
