package delivery

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/mxout/mxout/internal/netguard"
)

func TestGuard(t *testing.T) {
	t.Parallel()
	g := guard{
		own:    []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:2525"), netip.MustParseAddrPort("0.0.0.0:587")},
		global: netguard.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::ffff:10.1.0.0/112")}),
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
