package delivery

import (
	"net/netip"

	"github.com/mxout/mxout/internal/netguard"
)

// guard refuses destinations the relay must never connect to.
type guard struct {
	// own are this relay's listening sockets; delivering to one of them
	// would hand the message back to ourselves (a mail loop).
	own []netip.AddrPort
	// global refuses MX-derived addresses that are not global unicast,
	// unless delivery.allowed_networks covers them.
	global netguard.Guard
}

// check returns a permanent 5.4.6 error for a destination the relay must
// not connect to. An address that is not global unicast is refused unless
// g.global exempts it, or trusted is set: an explicit smarthost is used as
// configured; nonGlobal reports that refusal. Never used, whatever the
// configuration: addresses that are not unicast, and this relay's own
// listeners.
func (g guard) check(mxHost string, addr netip.Addr, port int, trusted bool) (nonGlobal bool, err error) {
	addr = addr.Unmap()
	if addr.IsUnspecified() || addr.IsMulticast() || addr == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return false, permanentLocal("5.4.6", "mail for %s would go to forbidden address %s", mxHost, addr)
	}
	if !trusted {
		if err := g.global.Check(addr); err != nil {
			return true, permanentLocal("5.4.6", "mail for %s not sent: %v", mxHost, err)
		}
	}
	for _, own := range g.own {
		if int(own.Port()) != port {
			continue
		}
		ownAddr := own.Addr().Unmap()
		if ownAddr == addr || (ownAddr.IsUnspecified() && (addr.IsLoopback() || addr.IsPrivate())) {
			return false, permanentLocal("5.4.6", "mail for %s loops back to myself (%s)", mxHost, netip.AddrPortFrom(addr, uint16(port)))
		}
	}
	return false, nil
}
