// Package netguard decides which addresses taken from DNS mxout may
// connect to: global unicast addresses only (the IANA special-purpose
// address registries), plus the networks the operator exempts
// (delivery.allowed_networks). Whoever controls a recipient domain
// controls its MX and its mta-sts host, so without this guard they could
// make the relay connect to services on its own host or private network.
package netguard

import (
	"fmt"
	"net/netip"
)

// special is one special-purpose range that is not globally reachable.
type special struct {
	prefix netip.Prefix
	name   string
}

func p(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// nonGlobal4 lists the IPv4 special-purpose ranges whose "Globally
// Reachable" entry in the IANA registry is False or N/A, multicast and the
// reserved 240/4 (which includes the limited broadcast address).
var nonGlobal4 = []special{
	{p("0.0.0.0/8"), "this-network"},
	{p("10.0.0.0/8"), "private-use"},
	{p("100.64.0.0/10"), "shared (CGNAT)"},
	{p("127.0.0.0/8"), "loopback"},
	{p("169.254.0.0/16"), "link-local"},
	{p("172.16.0.0/12"), "private-use"},
	{p("192.0.0.0/24"), "IETF protocol assignment"},
	{p("192.0.2.0/24"), "documentation"},
	{p("192.88.99.0/24"), "6to4 relay anycast"},
	{p("192.168.0.0/16"), "private-use"},
	{p("198.18.0.0/15"), "benchmarking"},
	{p("198.51.100.0/24"), "documentation"},
	{p("203.0.113.0/24"), "documentation"},
	{p("224.0.0.0/4"), "multicast"},
	{p("240.0.0.0/4"), "reserved"},
}

// global4 are the globally reachable exceptions inside nonGlobal4.
var global4 = []netip.Prefix{p("192.0.0.9/32"), p("192.0.0.10/32")}

// nonGlobal6 lists the IPv6 special-purpose ranges that are not globally
// reachable. Addresses outside 2000::/3 are refused as well (reserved by
// the IETF), except IPv4-mapped and NAT64 addresses, which are judged by
// the IPv4 address they carry.
var nonGlobal6 = []special{
	{p("::/128"), "unspecified"},
	{p("::1/128"), "loopback"},
	{p("64:ff9b:1::/48"), "local-use translation"},
	{p("100::/64"), "discard-only"},
	{p("2001::/32"), "Teredo"},
	{p("2001:2::/48"), "benchmarking"},
	{p("2001:db8::/32"), "documentation"},
	{p("2001::/23"), "IETF protocol assignment"},
	{p("2002::/16"), "6to4"},
	{p("3fff::/20"), "documentation"},
	{p("5f00::/16"), "segment routing"},
	{p("fc00::/7"), "unique-local"},
	{p("fe80::/10"), "link-local"},
	{p("ff00::/8"), "multicast"},
}

// global6 are the globally reachable exceptions inside 2001::/23.
var global6 = []netip.Prefix{
	p("2001:1::1/128"), p("2001:1::2/128"), p("2001:1::3/128"),
	p("2001:3::/32"), p("2001:4:112::/48"), p("2001:20::/28"), p("2001:30::/28"),
}

var (
	globalUnicast6 = p("2000::/3")
	nat64          = p("64:ff9b::/96")
)

// NonGlobal names the special-purpose range addr belongs to ("loopback",
// "private-use", ...), or returns "" when addr is global unicast.
func NonGlobal(addr netip.Addr) string {
	if !addr.IsValid() {
		return "invalid"
	}
	addr = addr.WithZone("").Unmap()
	if addr.Is4() {
		return nonGlobalIn(addr, nonGlobal4, global4)
	}
	if nat64.Contains(addr) {
		b := addr.As16()
		if name := NonGlobal(netip.AddrFrom4([4]byte(b[12:]))); name != "" {
			return "NAT64 of " + name
		}
		return ""
	}
	if name := nonGlobalIn(addr, nonGlobal6, global6); name != "" {
		return name
	}
	if !globalUnicast6.Contains(addr) {
		return "reserved"
	}
	return ""
}

func nonGlobalIn(addr netip.Addr, ranges []special, exceptions []netip.Prefix) string {
	for _, r := range ranges {
		if !r.prefix.Contains(addr) {
			continue
		}
		for _, e := range exceptions {
			if e.Contains(addr) {
				return ""
			}
		}
		return r.name
	}
	return ""
}

// Guard permits global unicast addresses and those inside its exempt
// networks. The zero Guard exempts nothing. It is safe for concurrent use.
type Guard struct {
	allowed []netip.Prefix
}

// New returns a Guard that also permits the addresses in allowed (the
// value of delivery.allowed_networks). An IPv4-mapped prefix
// (::ffff:10.0.0.0/104) counts as its IPv4 prefix, since addresses are
// compared unmapped.
func New(allowed []netip.Prefix) Guard {
	g := Guard{allowed: make([]netip.Prefix, len(allowed))}
	for i, a := range allowed {
		if a.Addr().Is4In6() {
			a = netip.PrefixFrom(a.Addr().Unmap(), max(a.Bits()-96, 0))
		}
		g.allowed[i] = a.Masked()
	}
	return g
}

// Error explains why an address is refused.
type Error struct {
	Addr  netip.Addr
	Range string // the special-purpose range, as NonGlobal names it
}

// Error says which address was refused and why.
func (e *Error) Error() string {
	return fmt.Sprintf("%s is a %s address, not global unicast (not in delivery.allowed_networks)", e.Addr, e.Range)
}

// Check returns nil when addr may be connected to, and an *Error otherwise.
func (g Guard) Check(addr netip.Addr) error {
	name := NonGlobal(addr)
	if name == "" {
		return nil
	}
	a := addr.WithZone("").Unmap()
	for _, n := range g.allowed {
		if n.Contains(a) {
			return nil
		}
	}
	return &Error{Addr: addr, Range: name}
}

// Allows reports whether addr may be connected to.
func (g Guard) Allows(addr netip.Addr) bool { return g.Check(addr) == nil }
