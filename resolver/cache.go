package resolver

import (
	"sync"
	"time"

	"github.com/miekg/dns"
)

const (
	// maxCacheEntries bounds memory whatever the mix of destinations.
	maxCacheEntries = 10000
	// maxCacheTTL caps every cached answer, so a mistaken long TTL at a
	// destination heals within the hour.
	maxCacheTTL = time.Hour
	// defaultNegativeTTL applies to NXDOMAIN/NODATA answers without an SOA.
	defaultNegativeTTL = 60 * time.Second
)

// answer is the outcome of resolving one name and type, as cached.
type answer struct {
	rrs  []dns.RR // records of the asked type at the end of the CNAME chain
	kind Kind     // 0 when rrs holds the answer; KindNXDomain or KindNoData
	// secure: DNSSEC is on and every response on the way set the AD bit.
	secure bool
}

type cacheKey struct {
	name  string
	qtype uint16
}

type cacheEntry struct {
	ans     answer
	expires time.Time
}

// cache holds answers until they expire. It is safe for concurrent use.
type cache struct {
	mu      sync.Mutex
	max     int
	entries map[cacheKey]cacheEntry
}

func newCache(max int) *cache {
	return &cache{max: max, entries: make(map[cacheKey]cacheEntry)}
}

// get returns the answer for k if it has not expired at now.
func (c *cache) get(k cacheKey, now time.Time) (answer, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if !ok {
		return answer{}, false
	}
	if !now.Before(e.expires) {
		delete(c.entries, k)
		return answer{}, false
	}
	return e.ans, true
}

// put stores a for ttl (capped at maxCacheTTL); a ttl <= 0 stores nothing.
func (c *cache) put(k cacheKey, a answer, ttl time.Duration, now time.Time) {
	if ttl <= 0 {
		return
	}
	ttl = min(ttl, maxCacheTTL)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[k]; !ok && len(c.entries) >= c.max {
		c.evict(now)
	}
	c.entries[k] = cacheEntry{ans: a, expires: now.Add(ttl)}
}

// evict drops expired entries, then arbitrary ones down to 90% of max, so
// the O(n) sweep runs once per max/10 insertions rather than on each.
func (c *cache) evict(now time.Time) {
	for k, e := range c.entries {
		if !now.Before(e.expires) {
			delete(c.entries, k)
		}
	}
	for k := range c.entries {
		if len(c.entries) < c.max*9/10 {
			break
		}
		delete(c.entries, k)
	}
}

// len returns the number of entries, expired or not.
func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
