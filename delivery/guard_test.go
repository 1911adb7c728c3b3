package delivery

import (
	"errors"
	"net/netip"
	"testing"
)

func TestGuard(t *testing.T) {
	t.Parallel()
	g := guard{own: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:2525"), netip.MustParseAddrPort("0.0.0.0:587")}}
	tests := []struct {
		addr    string
		port    int
		refused bool
	}{
		{"127.0.0.1", 2525, true},     // our own submission listener
		{"127.0.0.1", 2626, false},    // loopback on another port: allowed (tests, local smarthost)
		{"127.0.0.5", 587, true},      // wildcard listener covers loopback
		{"169.254.169.254", 25, true}, // cloud metadata
		{"fe80::1", 25, true},
		{"0.0.0.0", 25, true},
		{"224.0.0.1", 25, true},
		{"::ffff:127.0.0.1", 2525, true},
		{"192.0.2.10", 25, false},
		{"2001:db8::1", 25, false},
	}
	for _, tt := range tests {
		err := g.check("mx.example", netip.MustParseAddr(tt.addr), tt.port)
		if (err != nil) != tt.refused {
			t.Errorf("check(%s:%d) = %v, refused want %v", tt.addr, tt.port, err, tt.refused)
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
