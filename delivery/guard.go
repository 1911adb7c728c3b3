package delivery

import (
	"net/netip"
)

// guard refuses destinations the relay must never connect to.
type guard struct {
	// own are this relay's listening sockets; delivering to one of them
	// would hand the message back to ourselves (a mail loop).
	own []netip.AddrPort
}

// check returns a permanent 5.4.6 error for a forbidden destination. Loopback
// stays allowed on ports other than our own listeners: tests and some
// smarthost setups deliver to 127.0.0.1.
func (g guard) check(mxHost string, addr netip.Addr, port int) error {
	addr = addr.Unmap()
	switch {
	case addr.IsUnspecified(), addr.IsMulticast(), addr.IsLinkLocalUnicast(), addr.IsLinkLocalMulticast(),
		addr == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return permanentLocal("5.4.6", "mail for %s would go to forbidden address %s", mxHost, addr)
	}
	for _, own := range g.own {
		if int(own.Port()) != port {
			continue
		}
		ownAddr := own.Addr().Unmap()
		if ownAddr == addr || (ownAddr.IsUnspecified() && (addr.IsLoopback() || addr.IsPrivate())) {
			return permanentLocal("5.4.6", "mail for %s loops back to myself (%s)", mxHost, netip.AddrPortFrom(addr, uint16(port)))
		}
	}
	return nil
}
