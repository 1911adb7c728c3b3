package tlsrpt

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mxout/mxout/internal/netguard"
)

const (
	// flushEvery is how often counts are saved and failed sends retried.
	flushEvery = time.Minute
	// sendTimeout bounds one domain's report (record lookup and every
	// address), so that it goes out within a minute of the window's end.
	sendTimeout = 25 * time.Second
	// maxDelay bounds the random delay of reports for windows of an hour
	// or more (RFC 8460 §4.1 suggests one, to spread the load on
	// receivers); with the send time-out, a report still leaves within
	// a minute of its window's end.
	maxDelay = 30 * time.Second
	// retryFor is how long a report that could not be sent is retried
	// (RFC 8460 §5.4: up to 24 hours).
	retryFor = 24 * time.Hour
	// parallelSends bounds the reports sent at once.
	parallelSends = 8
)

// Resolver is what the reporter needs of mxout's resolver: the TLSRPT
// record, and the addresses of https: report hosts.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	netguard.Resolver
}

// Store keeps the counts across restarts; a queue.KV satisfies it.
type Store interface {
	Put(key string, value []byte) error
	Delete(key string) error
	Each(fn func(key string, value []byte) error) error
}

// Mailer queues a report message for delivery, from the null sender.
type Mailer interface {
	SubmitReport(ctx context.Context, to []string, msg []byte) error
}

// Config is what a Reporter needs.
type Config struct {
	Resolver Resolver
	// Guard refuses https: report hosts on addresses that are not global
	// unicast, with the delivery.allowed_networks exemptions.
	Guard  netguard.Guard
	Store  Store // nil: counts are lost in a restart
	Mailer Mailer
	// Interval is the length of a report window; windows start when Run
	// does.
	Interval time.Duration
	// Organization and Contact fill the report's organization-name and
	// contact-info.
	Organization, Contact string
	// Submitter is the relay's host name: TLS-Report-Submitter, the file
	// name and the report IDs.
	Submitter string
	// From is the report message's From field.
	From string
	// RootCAs verify https: report hosts; nil means the system roots.
	RootCAs *x509.CertPool
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// pending is a closed window's counts for one domain, still to be sent.
type pending struct {
	key      string // its key in the Store
	domain   string
	counts   *domainCounts
	end      time.Time
	next     time.Time // the next attempt
	attempts int
}

// Reporter counts sessions and sends the reports. Its methods are safe
// for concurrent use.
type Reporter struct {
	cfg   Config
	now   func() time.Time
	log   *slog.Logger
	post  *poster
	rand  *rand.Rand
	start time.Time // of the current window
	// flushEvery is flushEvery; tests shorten it.
	flushEvery time.Duration

	mu      sync.Mutex
	counts  map[string]*domainCounts // the current window, by domain
	dirty   map[string]bool
	full    bool     // maxDomains reached this window (logged once)
	stale   []string // stored keys of merged leftovers, deleted at the next flush
	pending []*pending
}

// New returns a Reporter whose first window starts now. Counts left in
// the Store by an earlier run are merged into it, keeping their start.
func New(cfg Config) (*Reporter, error) {
	if cfg.Interval <= 0 {
		return nil, fmt.Errorf("tlsrpt: interval must be positive, got %v", cfg.Interval)
	}
	if cfg.Resolver == nil || cfg.Mailer == nil || cfg.Submitter == "" || cfg.From == "" {
		return nil, errors.New("tlsrpt: resolver, mailer, submitter and from are required")
	}
	r := &Reporter{
		cfg:    cfg,
		now:    cfg.Now,
		log:    cfg.Logger,
		post:   newPoster(&netguard.Dialer{Resolver: cfg.Resolver, Guard: cfg.Guard, Timeout: sendTimeout}, cfg.RootCAs, sendTimeout),
		rand:   rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
		counts: make(map[string]*domainCounts),
		dirty:  make(map[string]bool),

		flushEvery: flushEvery,
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.start = r.now()
	if err := r.load(); err != nil {
		return nil, fmt.Errorf("tlsrpt: load saved counts: %w", err)
	}
	return r, nil
}

// load merges the stored counts into the current window.
func (r *Reporter) load() error {
	if r.cfg.Store == nil {
		return nil
	}
	return r.cfg.Store.Each(func(key string, v []byte) error {
		r.stale = append(r.stale, key)
		_, domain, ok := strings.Cut(key, "/")
		var dc domainCounts
		if !ok || json.Unmarshal(v, &dc) != nil || len(r.counts) >= maxDomains {
			return nil
		}
		if cur := r.counts[domain]; cur != nil {
			cur.merge(&dc)
		} else {
			r.counts[domain] = &dc
		}
		r.dirty[domain] = true
		return nil
	})
}

// Success counts a session that met policy p.
func (r *Reporter) Success(p Policy) {
	r.record(p, func(d *domainCounts) bool { return d.success(p) })
}

// Failure counts a session that failed policy p as f says.
func (r *Reporter) Failure(p Policy, f Failure) {
	r.record(p, func(d *domainCounts) bool { return d.failure(p, f) })
}

func (r *Reporter) record(p Policy, add func(*domainCounts) bool) {
	domain := strings.ToLower(strings.TrimSuffix(p.Domain, "."))
	if !validDomain(domain) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	d := r.counts[domain]
	if d == nil {
		if len(r.counts) >= maxDomains {
			if !r.full {
				r.full = true
				r.log.Warn("tlsrpt: too many domains in this report window; sessions to new ones are not counted", "max", maxDomains)
			}
			return
		}
		d = &domainCounts{Start: r.start}
		r.counts[domain] = d
	}
	if add(d) {
		r.dirty[domain] = true
	}
}

// Run closes a window every Interval, from when New was called, and
// sends its reports; it saves the counts every minute and at the end. It
// returns when ctx is done.
func (r *Reporter) Run(ctx context.Context) error {
	var sends sync.WaitGroup
	defer sends.Wait()
	flush := time.NewTicker(r.flushEvery)
	defer flush.Stop()
	end := r.start.Add(r.cfg.Interval)
	window := time.NewTimer(end.Sub(r.now()))
	defer window.Stop()
	for {
		select {
		case <-ctx.Done():
			r.save()
			return nil
		case <-window.C:
			batch := r.rotate(end)
			delay := r.delay()
			sends.Go(func() { r.sendBatch(ctx, batch, delay) })
			end = end.Add(r.cfg.Interval)
			window.Reset(end.Sub(r.now()))
		case <-flush.C:
			r.save()
			if due := r.dueRetries(); len(due) > 0 {
				sends.Go(func() { r.sendBatch(ctx, due, 0) })
			}
		}
	}
}

// delay is the random delay before a window's reports go out: none for
// windows under an hour, under maxDelay for longer ones.
func (r *Reporter) delay() time.Duration {
	if r.cfg.Interval < time.Hour {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return time.Duration(r.rand.Int64N(int64(maxDelay)))
}

// rotate starts the window that begins at end and returns the one that
// closed, saved first so that a crash before it is sent loses nothing.
func (r *Reporter) rotate(end time.Time) []*pending {
	r.save()
	r.mu.Lock()
	defer r.mu.Unlock()
	key := r.keyPrefix()
	batch := make([]*pending, 0, len(r.counts))
	for domain, c := range r.counts {
		batch = append(batch, &pending{key: key + domain, domain: domain, counts: c, end: end})
	}
	r.counts = make(map[string]*domainCounts)
	r.dirty = make(map[string]bool)
	r.full = false
	r.start = end
	return batch
}

// keyPrefix is the Store key prefix of the current window; r.mu held.
func (r *Reporter) keyPrefix() string { return strconv.FormatInt(r.start.Unix(), 10) + "/" }

// save writes the changed counts of the current window, then deletes the
// leftovers it merged.
func (r *Reporter) save() {
	if r.cfg.Store == nil {
		return
	}
	r.mu.Lock()
	key := r.keyPrefix()
	writes := make(map[string][]byte, len(r.dirty))
	for domain := range r.dirty {
		v, err := json.Marshal(r.counts[domain])
		if err == nil {
			writes[key+domain] = v
		}
	}
	r.dirty = make(map[string]bool)
	stale := r.stale
	r.stale = nil
	r.mu.Unlock()
	for k, v := range writes {
		if err := r.cfg.Store.Put(k, v); err != nil {
			r.log.Warn("tlsrpt: cannot save counts", "key", k, "err", err)
		}
	}
	for _, k := range stale {
		if _, ok := writes[k]; ok {
			continue
		}
		if err := r.cfg.Store.Delete(k); err != nil {
			r.log.Warn("tlsrpt: cannot delete merged counts", "key", k, "err", err)
		}
	}
}

// dueRetries takes the pending reports whose next attempt is due.
func (r *Reporter) dueRetries() []*pending {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	var due, keep []*pending
	for _, p := range r.pending {
		if now.Before(p.next) {
			keep = append(keep, p)
		} else {
			due = append(due, p)
		}
	}
	r.pending = keep
	return due
}

// validDomain accepts the names a report may be about and go to: ASCII
// letters, digits, '-', '_' and dots, as the resolver takes them.
func validDomain(d string) bool {
	if d == "" || len(d) > 253 {
		return false
	}
	for i := 0; i < len(d); i++ {
		c := d[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
