package resolver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// maxCNAMEHops bounds a CNAME chain (RFC 1034 §3.6.2 asks resolvers to
// detect loops; 8 hops is far beyond any sane configuration).
const maxCNAMEHops = 8

// lookup returns the answer for a normalised name and type, from the cache
// while it is fresh. Only network resolutions are reported to the Observer.
func (r *Resolver) lookup(ctx context.Context, name string, qtype uint16) (answer, error) {
	key := cacheKey{name: name, qtype: qtype}
	if a, ok := r.cache.get(key, r.now()); ok {
		return a, nil
	}
	start := time.Now()
	a, ttl, err := r.resolve(ctx, name, qtype)
	if r.observer != nil {
		r.observer.ObserveLookup(dns.TypeToString[qtype], resultOf(a, err), time.Since(start))
	}
	if err != nil {
		return answer{}, err
	}
	r.cache.put(key, a, ttl, r.now())
	return a, nil
}

// resolve queries the servers for name/qtype, following CNAMEs within and
// across answers, and returns the answer with how long it may be cached.
func (r *Resolver) resolve(ctx context.Context, name string, qtype uint16) (answer, time.Duration, error) {
	fail := func(kind Kind, err error) (answer, time.Duration, error) {
		return answer{}, 0, &Error{Domain: name, QType: dns.TypeToString[qtype], Kind: kind, Err: err}
	}
	ch := chain{seen: map[string]bool{name: true}, ttl: maxCacheTTL}
	cur := name
	secure := r.dnssec
	for {
		resp, kind, err := r.exchange(ctx, cur, qtype)
		if err != nil {
			return fail(kind, err)
		}
		secure = secure && resp.AuthenticatedData
		rrs, end, err := ch.follow(resp, cur, qtype)
		if err != nil {
			return fail(KindCNAME, err)
		}
		if len(rrs) > 0 {
			return answer{rrs: rrs, secure: secure}, ch.ttl, nil
		}
		if resp.Rcode == dns.RcodeNameError {
			return answer{kind: KindNXDomain, secure: secure}, min(ch.ttl, negativeTTL(resp)), nil
		}
		if end == cur {
			return answer{kind: KindNoData, secure: secure}, min(ch.ttl, negativeTTL(resp)), nil
		}
		// The answer ends in a CNAME whose target it does not cover (an
		// authoritative server answering out of zone): ask for the target.
		cur = end
	}
}

// chain tracks a CNAME chain across answers: the names seen, the hops
// taken and the smallest TTL met on the way.
type chain struct {
	seen map[string]bool
	hops int
	ttl  time.Duration
}

// follow walks msg's answer section from name along CNAMEs and returns the
// qtype records at the end of the chain, and the name the chain reached.
func (c *chain) follow(msg *dns.Msg, name string, qtype uint16) ([]dns.RR, string, error) {
	cur := name
	for {
		var rrs []dns.RR
		var cname *dns.CNAME
		for _, rr := range msg.Answer {
			h := rr.Header()
			if h.Class != dns.ClassINET || !strings.EqualFold(strings.TrimSuffix(h.Name, "."), cur) {
				continue
			}
			if h.Rrtype == qtype {
				rrs = append(rrs, rr)
			} else if cn, ok := rr.(*dns.CNAME); ok && cname == nil {
				cname = cn
			}
		}
		if len(rrs) > 0 {
			for _, rr := range rrs {
				c.ttl = min(c.ttl, ttlOf(rr.Header().Ttl))
			}
			return rrs, cur, nil
		}
		if cname == nil {
			return nil, cur, nil
		}
		target, err := normalizeName(cname.Target)
		if err != nil {
			return nil, cur, fmt.Errorf("CNAME %s -> %q: %w", cur, cname.Target, err)
		}
		if c.seen[target] {
			return nil, cur, fmt.Errorf("CNAME loop at %s -> %s", cur, target)
		}
		if c.hops++; c.hops > maxCNAMEHops {
			return nil, cur, fmt.Errorf("more than %d CNAME hops at %s", maxCNAMEHops, cur)
		}
		c.seen[target] = true
		c.ttl = min(c.ttl, ttlOf(cname.Hdr.Ttl))
		cur = target
	}
}

// negativeTTL is how long an NXDOMAIN/NODATA answer may be cached: the
// SOA's TTL bounded by its MINIMUM field (RFC 2308 §5).
func negativeTTL(msg *dns.Msg) time.Duration {
	for _, rr := range msg.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			return ttlOf(min(soa.Hdr.Ttl, soa.Minttl))
		}
	}
	return defaultNegativeTTL
}

func ttlOf(sec uint32) time.Duration { return time.Duration(sec) * time.Second }

// resultOf maps an outcome to the Observer's bounded result label.
func resultOf(a answer, err error) string {
	var e *Error
	switch {
	case err == nil:
	case errors.As(err, &e) && e.Kind == KindTimeout:
		return "timeout"
	case errors.As(err, &e) && e.Kind == KindServerFailure:
		return "servfail"
	default:
		return "error"
	}
	switch a.kind {
	case KindNXDomain:
		return "nxdomain"
	case KindNoData:
		return "nodata"
	}
	return "ok"
}
