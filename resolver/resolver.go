package resolver

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// resolvConf is where the system's servers are read when Config.Servers is
// empty.
const resolvConf = "/etc/resolv.conf"

// Config holds everything a Resolver needs; the caller supplies every value.
type Config struct {
	// Servers are the recursive servers ("host:port"), tried in order. When
	// empty, the nameservers of /etc/resolv.conf are used on its port (53).
	Servers []string
	// Timeout bounds each query attempt (one server, one transport). It
	// must be positive.
	Timeout time.Duration
	// Now is the clock for cache expiry; nil means time.Now.
	Now func() time.Time
	// Rand shuffles MX hosts of equal preference; nil means the
	// math/rand/v2 global source. The Resolver serialises its use.
	Rand *rand.Rand
	// Observer, when not nil, is told about every lookup that reaches the
	// network (cache hits are not reported).
	Observer Observer
	// DNSSEC sets the DO bit (and AD) on queries, so that a validating
	// server tells whether each answer is authenticated (the AD bit). An
	// answer is secure only when this is on and the servers set AD: mxout
	// validates nothing itself and trusts its configured servers, as
	// Postfix's smtp_dns_support_level = dnssec does. Off, every answer
	// is insecure.
	DNSSEC bool
}

// Observer receives one call per network lookup: qtype is "MX", "A",
// "AAAA", "TXT" or "TLSA"; result is one of "ok", "nxdomain", "nodata", "servfail",
// "timeout" or "error", so it can be used as a metric label; d is the time
// the lookup took, failover and CNAME chasing included.
type Observer interface {
	ObserveLookup(qtype string, result string, d time.Duration)
}

// MX is one mail exchanger for a domain.
type MX struct {
	Host     string // lowercase, without the trailing dot
	Pref     uint16
	Implicit bool // the domain has no MX records; Host is the domain itself (RFC 5321 §5.1)
}

// Resolver looks up mail exchangers and addresses. It is safe for
// concurrent use.
type Resolver struct {
	servers  []string
	timeout  time.Duration
	now      func() time.Time
	observer Observer
	dnssec   bool
	udp, tcp *dns.Client
	cache    *cache

	randMu sync.Mutex
	rand   *rand.Rand
}

// New returns a Resolver for cfg. It fails when the timeout is not
// positive, a server is not "host:port", or no server can be found.
func New(cfg Config) (*Resolver, error) {
	if cfg.Timeout <= 0 {
		return nil, fmt.Errorf("resolver: timeout must be positive, got %v", cfg.Timeout)
	}
	servers := slices.Clone(cfg.Servers)
	if len(servers) == 0 {
		var err error
		if servers, err = systemServers(resolvConf); err != nil {
			return nil, fmt.Errorf("resolver: no servers configured: %w", err)
		}
	}
	for _, s := range servers {
		if _, _, err := net.SplitHostPort(s); err != nil {
			return nil, fmt.Errorf("resolver: server %q: %w", s, err)
		}
	}
	r := &Resolver{
		servers:  servers,
		timeout:  cfg.Timeout,
		now:      cfg.Now,
		observer: cfg.Observer,
		dnssec:   cfg.DNSSEC,
		rand:     cfg.Rand,
		udp:      &dns.Client{Net: "udp", Timeout: cfg.Timeout},
		tcp:      &dns.Client{Net: "tcp", Timeout: cfg.Timeout},
		cache:    newCache(maxCacheEntries),
	}
	if r.now == nil {
		r.now = time.Now
	}
	return r, nil
}

// systemServers reads the nameservers of a resolv.conf file.
func systemServers(path string) ([]string, error) {
	conf, err := dns.ClientConfigFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(conf.Servers) == 0 {
		return nil, fmt.Errorf("read %s: no nameserver lines", path)
	}
	servers := make([]string, len(conf.Servers))
	for i, s := range conf.Servers {
		servers[i] = net.JoinHostPort(s, conf.Port)
	}
	return servers, nil
}

// LookupMX returns the mail exchangers of domain in the order to try them
// (RFC 5321 §5.1): by preference, equal preferences shuffled. A domain
// without MX records gets one implicit MX, itself. A null MX (RFC 7505) is
// reported as ErrNullMX, a missing domain as ErrNXDomain; both are
// permanent. Every error is an *Error.
func (r *Resolver) LookupMX(ctx context.Context, domain string) ([]MX, error) {
	mxs, _, err := r.LookupMXSecure(ctx, domain)
	return mxs, err
}

// LookupMXSecure is LookupMX that also reports whether the answer is
// secure: Config.DNSSEC is on and the servers set the AD bit on every
// response the answer was read from (a CNAME chain may take several).
// For an implicit MX, secure says whether the absence of MX records was
// authenticated.
func (r *Resolver) LookupMXSecure(ctx context.Context, domain string) ([]MX, bool, error) {
	name, err := normalizeName(domain)
	if err != nil {
		return nil, false, &Error{Domain: domain, QType: "MX", Kind: KindInvalidName, Err: err}
	}
	a, err := r.lookup(ctx, name, dns.TypeMX)
	if err != nil {
		return nil, false, err
	}
	switch a.kind {
	case KindNXDomain:
		return nil, a.secure, &Error{Domain: name, QType: "MX", Kind: KindNXDomain}
	case KindNoData:
		return []MX{{Host: name, Pref: 0, Implicit: true}}, a.secure, nil
	}
	mxs, null := mxHosts(a.rrs)
	if len(mxs) == 0 {
		if null {
			return nil, a.secure, &Error{Domain: name, QType: "MX", Kind: KindNullMX}
		}
		return nil, false, &Error{Domain: name, QType: "MX", Kind: KindMalformed, Err: errors.New("no usable MX target")}
	}
	slices.SortStableFunc(mxs, func(a, b MX) int { return cmp.Compare(a.Pref, b.Pref) })
	r.shuffleEqual(mxs)
	return mxs, a.secure, nil
}

// mxHosts converts MX records, dropping null MX targets (reported by null)
// and targets that are not valid host names. A null MX mixed with real
// ones is a misconfiguration (RFC 7505 §3); the real ones are still tried.
func mxHosts(rrs []dns.RR) (mxs []MX, null bool) {
	for _, rr := range rrs {
		mx, ok := rr.(*dns.MX)
		if !ok {
			continue
		}
		if mx.Mx == "." {
			null = true
			continue
		}
		host, err := normalizeName(mx.Mx)
		if err != nil {
			continue
		}
		mxs = append(mxs, MX{Host: host, Pref: mx.Preference})
	}
	return mxs, null
}

// shuffleEqual shuffles each run of equal preference in a sorted list.
func (r *Resolver) shuffleEqual(mxs []MX) {
	for i := 0; i < len(mxs); {
		j := i + 1
		for j < len(mxs) && mxs[j].Pref == mxs[i].Pref {
			j++
		}
		run := mxs[i:j]
		for k := len(run) - 1; k > 0; k-- {
			l := r.intN(k + 1)
			run[k], run[l] = run[l], run[k]
		}
		i = j
	}
}

func (r *Resolver) intN(n int) int {
	if r.rand == nil {
		return rand.IntN(n)
	}
	r.randMu.Lock()
	defer r.randMu.Unlock()
	return r.rand.IntN(n)
}

// LookupAddrs returns host's IPv4 addresses, then its IPv6 addresses, each
// family in the server's order; A and AAAA are queried concurrently. When
// one family fails but the other has addresses, those are returned without
// error. With no address at all, NXDOMAIN wins (permanent), then a
// temporary failure, then KindNoData (temporary: the host exists but has
// no address). Every error is an *Error.
func (r *Resolver) LookupAddrs(ctx context.Context, host string) ([]netip.Addr, error) {
	name, err := normalizeName(host)
	if err != nil {
		return nil, &Error{Domain: host, QType: "A/AAAA", Kind: KindInvalidName, Err: err}
	}
	var (
		wg   sync.WaitGroup
		a6   answer
		err6 error
	)
	wg.Go(func() { a6, err6 = r.lookup(ctx, name, dns.TypeAAAA) })
	a4, err4 := r.lookup(ctx, name, dns.TypeA)
	wg.Wait()

	if addrs := append(addrsOf(a4), addrsOf(a6)...); len(addrs) > 0 {
		return addrs, nil
	}
	switch {
	case a4.kind == KindNXDomain:
		return nil, &Error{Domain: name, QType: "A", Kind: KindNXDomain}
	case a6.kind == KindNXDomain:
		return nil, &Error{Domain: name, QType: "AAAA", Kind: KindNXDomain}
	case err4 != nil:
		return nil, err4
	case err6 != nil:
		return nil, err6
	}
	return nil, &Error{Domain: name, QType: "A/AAAA", Kind: KindNoData}
}

func addrsOf(a answer) []netip.Addr {
	var addrs []netip.Addr
	for _, rr := range a.rrs {
		var ip net.IP
		switch rr := rr.(type) {
		case *dns.A:
			ip = rr.A.To4()
		case *dns.AAAA:
			ip = rr.AAAA.To16()
		}
		if addr, ok := netip.AddrFromSlice(ip); ok {
			addrs = append(addrs, addr)
		}
	}
	return addrs
}
