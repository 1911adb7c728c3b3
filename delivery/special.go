package delivery

import "net/netip"

// nonGlobal are the blocks of the IANA IPv4 and IPv6 Special-Purpose
// Address Registries (RFC 6890 and later additions) that are not globally
// reachable, plus multicast and the IPv4 reserved space. An MX-derived
// address in one of them is internal to someone's network (loopback,
// RFC 1918, CGNAT, link-local cloud metadata, ULA, documentation, ...),
// and a domain owner could point the relay at it to reach internal
// services on port 25.
var nonGlobal = prefixes(
	// IPv4
	"0.0.0.0/8",       // "this network"
	"10.0.0.0/8",      // private (RFC 1918)
	"100.64.0.0/10",   // shared address space, CGNAT (RFC 6598)
	"127.0.0.0/8",     // loopback
	"169.254.0.0/16",  // link-local, cloud metadata
	"172.16.0.0/12",   // private (RFC 1918)
	"192.0.0.0/24",    // IETF protocol assignments
	"192.0.2.0/24",    // documentation (TEST-NET-1)
	"192.88.99.0/24",  // 6to4 relay anycast (deprecated)
	"192.168.0.0/16",  // private (RFC 1918)
	"198.18.0.0/15",   // benchmarking
	"198.51.100.0/24", // documentation (TEST-NET-2)
	"203.0.113.0/24",  // documentation (TEST-NET-3)
	"224.0.0.0/4",     // multicast
	"240.0.0.0/4",     // reserved, and the limited broadcast address
	// IPv6 (IPv4-mapped addresses are unmapped first)
	"::/128",         // unspecified
	"::1/128",        // loopback
	"64:ff9b:1::/48", // local-use IPv4/IPv6 translation
	"100::/64",       // discard-only
	"100:0:0:1::/64", // dummy prefix
	"2001::/23",      // IETF protocol assignments (Teredo, benchmarking, ORCHID, ...)
	"2001:db8::/32",  // documentation
	"3fff::/20",      // documentation
	"5f00::/16",      // segment routing (SRv6) SIDs
	"fc00::/7",       // unique local
	"fe80::/10",      // link-local
	"fec0::/10",      // site-local (deprecated)
	"ff00::/8",       // multicast
)

// globalExceptions are more specific blocks that the registries mark
// globally reachable inside a non-global one.
var globalExceptions = prefixes(
	"192.0.0.9/32", "192.0.0.10/32", // PCP and TURN anycast
	"2001:1::1/128", "2001:1::2/128", "2001:1::3/128", // PCP, TURN and DNS-SD SRP anycast
	"2001:3::/32",     // AMT
	"2001:4:112::/48", // AS112-v6
	"2001:20::/28",    // ORCHIDv2
	"2001:30::/28",    // Drone Remote ID
)

// embedsIPv4 are IPv6 prefixes whose last 32 bits are an IPv4 address
// that a translator on the path connects to: NAT64's well-known prefix
// (RFC 6052) and 6to4 (RFC 3056, the address in bits 16-47).
var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
	globalV6  = netip.MustParsePrefix("2000::/3")
)

// isGlobalUnicast reports whether addr is a globally reachable unicast
// address by the IANA special-purpose registries. An IPv6 address outside
// 2000::/3 (the only block allocated for global unicast) is not, nor is a
// translated IPv4 address (NAT64, 6to4) whose IPv4 address is not.
func isGlobalUnicast(addr netip.Addr) bool {
	addr = addr.Unmap().WithZone("")
	if !addr.IsValid() {
		return false
	}
	if addr.Is6() {
		switch {
		case nat64.Contains(addr):
			b := addr.As16()
			return isGlobalUnicast(netip.AddrFrom4([4]byte(b[12:16])))
		case sixToFour.Contains(addr):
			b := addr.As16()
			return isGlobalUnicast(netip.AddrFrom4([4]byte(b[2:6])))
		case !globalV6.Contains(addr):
			return false
		}
	}
	for _, p := range globalExceptions {
		if p.Contains(addr) {
			return true
		}
	}
	for _, p := range nonGlobal {
		if p.Contains(addr) {
			return false
		}
	}
	return true
}

// inNetworks reports whether addr is in one of nets.
func inNetworks(addr netip.Addr, nets []netip.Prefix) bool {
	addr = addr.Unmap().WithZone("")
	for _, p := range nets {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

func prefixes(s ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(s))
	for i, p := range s {
		out[i] = netip.MustParsePrefix(p)
	}
	return out
}
