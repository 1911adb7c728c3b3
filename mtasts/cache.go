package mtasts

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/mxout/mxout/internal/netguard"
	"github.com/mxout/mxout/resolver"
)

const (
	// retryFailed is how long a failed fetch is remembered: deliveries to
	// the domain in that time use the cached policy, or none, without
	// fetching again.
	retryFailed = 5 * time.Minute
	// maxEntries bounds the policies held, and maxFailed the failures
	// remembered: both are keyed by recipient domain.
	maxEntries = 50000
	maxFailed  = 10000
)

// Resolver is what the cache needs of mxout's resolver: the TXT record,
// and the policy host's addresses.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	netguard.Resolver
}

// Store keeps the cached policies across restarts; a queue.KV satisfies
// it.
type Store interface {
	Put(key string, value []byte) error
	Delete(key string) error
	Each(fn func(key string, value []byte) error) error
}

// Config is what a Cache needs.
type Config struct {
	// Resolver resolves the TXT record and the policy host (mxout's own
	// resolver, never the system's).
	Resolver Resolver
	// Guard refuses policy hosts on addresses that are not global
	// unicast, with the delivery.allowed_networks exemptions.
	Guard netguard.Guard
	// Store persists policies; nil keeps them in memory only.
	Store Store
	// RootCAs verify the policy host; nil means the system roots.
	RootCAs *x509.CertPool
	// Timeout bounds one fetch; zero means FetchTimeout.
	Timeout time.Duration
	// Port is the HTTPS port; zero means 443. Tests use another.
	Port int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger gets a line per failed fetch; nil discards.
	Logger *slog.Logger
}

// Result is what a lookup found for a domain.
type Result struct {
	// Policy is the policy that applies, or nil for none. A policy of
	// mode none is returned as such.
	Policy *Policy
	// ID is the id of the TXT record the policy was fetched for.
	ID string
	// Fetched is when the policy was fetched.
	Fetched time.Time
	// Err says why discovery failed, even when a cached Policy still
	// applies: ErrRecordInvalid, ErrFetch, ErrWebPKI, ErrPolicyInvalid, or
	// a DNS error. Nil when the domain publishes no record (ErrNoRecord is
	// not reported) or all went well.
	Err error
}

// Expires is when a cached policy stops applying.
func (r Result) Expires() time.Time {
	if r.Policy == nil {
		return time.Time{}
	}
	return r.Fetched.Add(r.Policy.MaxAge)
}

// entry is one cached policy, and its stored form.
type entry struct {
	ID      string    `json:"id"`
	Fetched time.Time `json:"fetched"`
	Text    string    `json:"policy"`
	policy  *Policy
}

type failure struct {
	id  string
	at  time.Time
	err error
}

type call struct {
	done chan struct{}
	res  Result
}

// Cache finds, fetches and caches MTA-STS policies. It is safe for
// concurrent use.
type Cache struct {
	res   Resolver
	store Store
	fetch *fetcher
	now   func() time.Time
	log   *slog.Logger

	// base is the context of fetches, which outlive the lookup that
	// started them so that one caller's cancellation is not remembered as
	// the domain's failure; Close cancels it.
	base   context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	entries  map[string]*entry
	failed   map[string]failure
	inflight map[string]*call
}

// New returns a Cache holding the policies found in cfg.Store that have
// not expired; expired ones are deleted from it.
func New(cfg Config) (*Cache, error) {
	if cfg.Resolver == nil {
		return nil, fmt.Errorf("mtasts: no resolver")
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = FetchTimeout
	}
	port := cfg.Port
	if port == 0 {
		port = 443
	}
	c := &Cache{
		res:      cfg.Resolver,
		store:    cfg.Store,
		fetch:    newFetcher(&netguard.Dialer{Resolver: cfg.Resolver, Guard: cfg.Guard, Timeout: timeout}, cfg.RootCAs, timeout, port),
		now:      cfg.Now,
		log:      cfg.Logger,
		entries:  make(map[string]*entry),
		failed:   make(map[string]failure),
		inflight: make(map[string]*call),
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.base, c.cancel = context.WithCancel(context.Background())
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if err := c.load(); err != nil {
		return nil, fmt.Errorf("mtasts: load cached policies: %w", err)
	}
	return c, nil
}

// load reads the store into memory, dropping expired and unreadable
// entries.
func (c *Cache) load() error {
	if c.store == nil {
		return nil
	}
	now := c.now()
	var stale []string
	err := c.store.Each(func(domain string, v []byte) error {
		var e entry
		p, err := decodeEntry(v, &e)
		if err != nil || !now.Before(e.Fetched.Add(p.MaxAge)) || len(c.entries) >= maxEntries {
			stale = append(stale, domain)
			return nil
		}
		e.policy = p
		c.entries[domain] = &e
		return nil
	})
	if err != nil {
		return err
	}
	for _, d := range stale {
		if err := c.store.Delete(d); err != nil {
			c.log.Warn("mta-sts: cannot delete an expired cached policy", "domain", d, "err", err)
		}
	}
	return nil
}

func decodeEntry(v []byte, e *entry) (*Policy, error) {
	if err := json.Unmarshal(v, e); err != nil {
		return nil, err
	}
	return ParsePolicy([]byte(e.Text))
}

// Cached returns the cached policy of domain, without any lookup.
func (c *Cache) Cached(domain string) (Result, bool) {
	domain = normalize(domain)
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.fresh(domain)
	if e == nil {
		return Result{}, false
	}
	return Result{Policy: e.policy, ID: e.ID, Fetched: e.Fetched}, true
}

// Lookup returns the policy that applies to mail for domain now (RFC 8461
// §5.1): it looks up the TXT record, uses the cached policy while the
// record's id is unchanged, and fetches the policy when the id changed
// or nothing is cached. Without a valid record, or when the fetch fails,
// a cached policy applies until it expires.
func (c *Cache) Lookup(ctx context.Context, domain string) Result {
	domain = normalize(domain)
	rec, recErr := c.record(ctx, domain)

	c.mu.Lock()
	cached := c.fresh(domain)
	if recErr != nil {
		c.mu.Unlock()
		return c.fromCache(cached, recErr)
	}
	if cached != nil && cached.ID == rec.ID {
		c.mu.Unlock()
		return Result{Policy: cached.policy, ID: cached.ID, Fetched: cached.Fetched}
	}
	if f, ok := c.failed[domain]; ok && f.id == rec.ID && c.now().Sub(f.at) < retryFailed {
		c.mu.Unlock()
		return c.fromCache(cached, f.err)
	}
	cl, ok := c.inflight[domain]
	if !ok {
		cl = &call{done: make(chan struct{})}
		c.inflight[domain] = cl
		go func() {
			cl.res = c.refresh(domain, rec.ID, cached)
			c.mu.Lock()
			delete(c.inflight, domain)
			c.mu.Unlock()
			close(cl.done)
		}()
	}
	c.mu.Unlock()
	select {
	case <-cl.done:
		return cl.res
	case <-ctx.Done():
		return c.fromCache(cached, fmt.Errorf("%w: %w", ErrFetch, ctx.Err()))
	}
}

// Close cancels the fetches in flight. Lookups after Close find only
// cached policies.
func (c *Cache) Close() { c.cancel() }

// record finds the domain's TXT record. ErrNoRecord is returned as is.
func (c *Cache) record(ctx context.Context, domain string) (Record, error) {
	txts, err := c.res.LookupTXT(ctx, "_mta-sts."+domain)
	if err != nil {
		if isAbsent(err) {
			return Record{}, ErrNoRecord
		}
		return Record{}, fmt.Errorf("look up _mta-sts.%s: %w", domain, err)
	}
	return PickRecord(txts)
}

// fromCache is the answer when no fresh fetch happens: the cached policy
// if there is one, with why nothing newer could be had.
func (c *Cache) fromCache(e *entry, err error) Result {
	if errors.Is(err, ErrNoRecord) {
		err = nil
	}
	if e == nil {
		return Result{Err: err}
	}
	return Result{Policy: e.policy, ID: e.ID, Fetched: e.Fetched, Err: err}
}

// refresh fetches the policy for record id and caches it; a failure is
// remembered and leaves the cached policy in place.
func (c *Cache) refresh(domain, id string, cached *entry) Result {
	p, err := c.fetch.fetch(c.base, domain)
	now := c.now()
	if err != nil && c.base.Err() != nil {
		return c.fromCache(cached, err) // closing: not the domain's failure
	}
	if err != nil {
		c.log.Warn("mta-sts: policy fetch failed", "domain", domain, "id", id, "cached", cached != nil, "err", err)
		c.mu.Lock()
		if len(c.failed) >= maxFailed {
			clear(c.failed)
		}
		c.failed[domain] = failure{id: id, at: now, err: err}
		c.mu.Unlock()
		return c.fromCache(cached, err)
	}
	e := &entry{ID: id, Fetched: now, Text: p.String(), policy: p}
	c.mu.Lock()
	delete(c.failed, domain)
	c.put(domain, e)
	c.mu.Unlock()
	if c.store != nil {
		v, _ := json.Marshal(e)
		if err := c.store.Put(domain, v); err != nil {
			c.log.Warn("mta-sts: cannot store the policy; it is cached in memory only", "domain", domain, "err", err)
		}
	}
	return Result{Policy: p, ID: id, Fetched: now}
}

// fresh returns domain's cached entry unless it expired; c.mu held.
func (c *Cache) fresh(domain string) *entry {
	e := c.entries[domain]
	if e == nil {
		return nil
	}
	if !c.now().Before(e.Fetched.Add(e.policy.MaxAge)) {
		// The stored copy goes at the next start (load), or is replaced
		// by the next fetch.
		delete(c.entries, domain)
		return nil
	}
	return e
}

// put caches e, making room if the cache is full; c.mu held.
func (c *Cache) put(domain string, e *entry) {
	if _, ok := c.entries[domain]; !ok && len(c.entries) >= maxEntries {
		var oldest string
		for d, x := range c.entries {
			if oldest == "" || x.Fetched.Before(c.entries[oldest].Fetched) {
				oldest = d
			}
		}
		delete(c.entries, oldest)
	}
	c.entries[domain] = e
}

// isAbsent reports whether a lookup error says the record does not exist,
// rather than that it could not be looked up.
func isAbsent(err error) bool {
	var re *resolver.Error
	return errors.As(err, &re) && (re.Kind == resolver.KindNXDomain || re.Kind == resolver.KindNoData)
}

func normalize(domain string) string {
	return strings.ToLower(strings.TrimSuffix(domain, "."))
}

// Add caches r, a policy another Cache found (mxout tls check starts from
// the running relay's), in memory only. A result without a policy is
// ignored.
func (c *Cache) Add(domain string, r Result) {
	if r.Policy == nil {
		return
	}
	domain = normalize(domain)
	e := &entry{ID: r.ID, Fetched: r.Fetched, Text: r.Policy.String(), policy: r.Policy}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.put(domain, e)
}
