package delivery

import (
	"net/netip"
)

// guard refuses destinations the relay must never connect to.
type guard struct {
	// own are this relay's listening sockets; delivering to one of them
	// would hand the message back to ourselves (a mail loop).
	own []netip.AddrPort
	// allowed are the networks (delivery.allowed_networks) that MX-derived
	// addresses may be in although they are not global unicast.
	allowed []netip.Prefix
}

// check returns a permanent 5.4.6 error for a destination the relay must
// not connect to. An address that is not global unicast is refused unless
// it is in g.allowed, or trusted is set: an explicit smarthost is used as
// configured; then nonGlobal is set too. Never used, whatever the
// configuration: addresses that are not unicast, and this relay's own
// listeners.
func (g guard) check(mxHost string, addr netip.Addr, port int, trusted bool) (nonGlobal bool, err error) {
	addr = addr.Unmap()
	switch {
	case addr.IsUnspecified(), addr.IsMulticast(), addr == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return false, permanentLocal("5.4.6", "mail for %s would go to forbidden address %s", mxHost, addr)
	case !trusted && !isGlobalUnicast(addr) && !inNetworks(addr, g.allowed):
		return true, permanentLocal("5.4.6", "mail for %s would go to %s, which is not a global unicast address (not in delivery.allowed_networks)", mxHost, addr)
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

// normalizeNetworks unmaps IPv4-mapped prefixes, since addresses are
// compared unmapped.
func normalizeNetworks(nets []netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(nets))
	for _, p := range nets {
		if a := p.Addr(); a.Is4In6() {
			p = netip.PrefixFrom(a.Unmap(), max(p.Bits()-96, 0))
		}
		out = append(out, p.Masked())
	}
	return out
}
