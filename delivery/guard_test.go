package delivery

import (
	"errors"
	"net/netip"
	"testing"
)

func TestGuard(t *testing.T) {
	t.Parallel()
	g := guard{
		own:     []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:2525"), netip.MustParseAddrPort("0.0.0.0:587")},
		allowed: normalizeNetworks([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::ffff:10.1.0.0/112")}),
	}
	tests := []struct {
		addr      string
		port      int
		smarthost bool
		refused   bool
	}{
		{"127.0.0.1", 2525, false, true},  // our own submission listener
		{"127.0.0.1", 2525, true, true},   // even as the smarthost
		{"127.0.0.1", 2626, false, false}, // loopback on another port, in allowed_networks
		{"127.0.0.5", 587, false, true},   // wildcard listener covers loopback
		{"::ffff:127.0.0.1", 2525, false, true},
		{"10.1.2.3", 25, false, false}, // allowed through an IPv4-mapped prefix
		{"10.2.0.1", 25, false, true},  // private, not allowed
		{"10.2.0.1", 25, true, false},  // the smarthost is trusted as configured
		{"192.168.1.1", 25, false, true},
		{"100.64.0.1", 25, false, true},      // CGNAT
		{"169.254.169.254", 25, false, true}, // cloud metadata
		{"fe80::1", 25, false, true},
		{"fd00::25", 25, false, true}, // unique local
		{"::1", 25, false, true},      // loopback, not in allowed_networks
		{"0.0.0.0", 25, false, true},
		{"0.0.0.0", 25, true, true}, // not unicast: never, smarthost or not
		{"224.0.0.1", 25, true, true},
		{"255.255.255.255", 25, true, true},
		{"8.8.8.8", 25, false, false},
		{"2a00:1450:4001:80b::1b", 25, false, false},
	}
	for _, tt := range tests {
		_, err := g.check("mx.example", netip.MustParseAddr(tt.addr), tt.port, tt.smarthost)
		if (err != nil) != tt.refused {
			t.Errorf("check(%s:%d, smarthost %v) = %v, refused want %v", tt.addr, tt.port, tt.smarthost, err, tt.refused)
			continue
		}
		if err != nil {
			var le *localError
			if !errors.As(err, &le) || le.status != "5.4.6" || !Classify(err, "").Permanent() {
				t.Errorf("check(%s:%d) = %v, want a permanent 5.4.6", tt.addr, tt.port, err)
			}
		}
	}
}

// One address from each block of the IANA special-purpose registries,
// and global neighbours.
func TestIsGlobalUnicast(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr   string
		global bool
	}{
		{"0.1.2.3", false}, {"10.0.0.1", false}, {"100.64.0.1", false}, {"100.127.255.254", false},
		{"100.128.0.1", true}, {"127.0.0.1", false}, {"169.254.169.254", false},
		{"172.16.0.1", false}, {"172.31.255.254", false}, {"172.32.0.1", true},
		{"192.0.0.8", false}, {"192.0.0.9", true}, {"192.0.2.1", false}, {"192.88.99.1", false},
		{"192.168.0.1", false}, {"198.18.0.1", false}, {"198.19.255.1", false}, {"198.20.0.1", true},
		{"198.51.100.1", false}, {"203.0.113.1", false}, {"224.0.0.251", false}, {"240.0.0.1", false},
		{"255.255.255.255", false}, {"1.1.1.1", true}, {"192.31.196.1", true}, {"192.175.48.1", true},
		{"::", false}, {"::1", false}, {"::ffff:10.0.0.1", false}, {"::ffff:1.1.1.1", true},
		{"64:ff9b::a00:1", false}, {"64:ff9b::101:101", true}, {"64:ff9b:1::1", false},
		{"100::1", false}, {"2001::1", false}, {"2001:2::1", false}, {"2001:db8::1", false},
		{"2001:4:112::1", true}, {"2001:20::1", true},
		{"2002:a00:1::1", false}, {"2002:101:101::1", true}, {"3fff::1", false}, {"5f00::1", false},
		{"fc00::1", false}, {"fdff::1", false}, {"fe80::1", false}, {"fec0::1", false}, {"ff02::1", false},
		{"4000::1", false}, {"2a00:1450::1", true}, {"2606:4700::1111", true},
	}
	for _, tt := range tests {
		if got := isGlobalUnicast(netip.MustParseAddr(tt.addr)); got != tt.global {
			t.Errorf("isGlobalUnicast(%s) = %v, want %v", tt.addr, got, tt.global)
		}
	}
}
