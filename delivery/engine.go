package delivery

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/internal/netguard"
	"github.com/mxout/mxout/metrics"
	"github.com/mxout/mxout/queue"
	"github.com/mxout/mxout/resolver"
)

// Queue is what delivery needs from the queue.
type Queue interface {
	// LeaseFiltered takes up to max due messages that filter admits; each
	// must end with Complete or ReturnLease.
	LeaseFiltered(now time.Time, max int, filter queue.LeaseFilter) ([]*queue.Message, error)
	// Body returns a message's stored body.
	Body(id queue.ID) ([]byte, error)
	// Record records per-recipient results of part of a round durably
	// and keeps the lease.
	Record(id queue.ID, u queue.Update) (*queue.Message, error)
	// Complete records per-recipient results durably and ends the lease.
	Complete(id queue.ID, u queue.Update) (*queue.Message, error)
	// ReturnLease ends a lease without an attempt (shutdown).
	ReturnLease(id queue.ID) error
	// NextDue is the due time of the earliest unleased message.
	NextDue() (time.Time, bool)
	// Wake is signalled when work may have become due.
	Wake() <-chan struct{}
}

// Resolver finds where mail for a domain goes.
type Resolver interface {
	// LookupMXSecure also says whether the MX answer was authenticated
	// by DNSSEC, which DANE needs.
	LookupMXSecure(ctx context.Context, domain string) ([]resolver.MX, bool, error)
	LookupAddrs(ctx context.Context, host string) ([]netip.Addr, error)
}

// Notifier sends delivery status notifications about a delivery round
// (package bounce).
//
// Notify is called before the queue records results, with the results
// it records, so that a notice is durable before the state it reports: a
// crash in between repeats those results' transactions (and may send a
// notice twice) but never loses one. A round's results are recorded in
// parts: each destination's deliveries and deferrals once its transaction
// ends (a Round with Partial set), and the round's failures with its last
// destination at its end, so that they make one failure notice. It
// returns what the queue must record with the results. An error means the
// notice for the failed recipients could not be queued; the engine then
// keeps those recipients pending and retries them later, so that no
// failure goes unreported.
type Notifier interface {
	Notify(ctx context.Context, r queue.Round) (queue.Notified, error)
}

// Events turns a round into the delivery events the queue writes in the
// same transaction as the round's results (package events).
type Events interface {
	// Round returns the round's event records.
	Round(r queue.Round) []queue.EventRecord
	// Written is told the records once the queue has written them.
	Written(recs []queue.EventRecord)
}

// Config configures an Engine. cmd/mxout fills it from configs.
type Config struct {
	Workers  int
	Port     int
	HeloName string
	TLS      configs.TLSPolicy
	// MaxConnectionsPerDomain caps the open connections (busy or idle) to
	// one destination.
	MaxConnectionsPerDomain int
	// MaxRecipientsPerTransaction caps RCPTs per transaction; 0 means 100.
	MaxRecipientsPerTransaction int
	// MaxMessagesPerConnection caps transactions per session; 0 or 1
	// closes every session after one transaction.
	MaxMessagesPerConnection int
	// MaxMXAddresses caps the addresses one attempt tries, and
	// MaxMXSessions the connections it makes that a server accepted
	// (Postfix's smtp_mx_address_limit and smtp_mx_session_limit; the
	// configuration's defaults are 5 and 2). 0 is no limit.
	MaxMXAddresses, MaxMXSessions int
	// ConnectionIdleTimeout is how long a session is kept open for the
	// next message to the same host; 0 disables reuse.
	ConnectionIdleTimeout time.Duration
	// Domains holds per-domain overrides, keyed by lowercase domain.
	Domains map[string]configs.DomainPolicy
	// IPFamily is the remote addresses used; empty is any.
	IPFamily configs.IPFamily
	// SourceAddr, when valid, is the local address of outbound
	// connections; remote addresses of the other family are skipped.
	SourceAddr netip.Addr
	// DeadAfter consecutive site failures make a destination dead for
	// DeadHold (dead.go); 0 disables.
	DeadAfter int
	DeadHold  time.Duration
	// Smarthost, when its Address is set, replaces MX routing.
	Smarthost Smarthost
	Retry     Backoff
	// Timeouts bound each step of a session and the whole attempt; each
	// must be positive (configs.DeliveryTimeouts has the defaults).
	Timeouts configs.DeliveryTimeouts
	// OwnAddrs are this relay's listening sockets, never delivered to.
	OwnAddrs []netip.AddrPort
	// AllowedNetworks exempt MX-derived addresses from the rule that they
	// must be global unicast (internal/netguard); tests on loopback set
	// 127.0.0.0/8. The smarthost is exempt anyway.
	AllowedNetworks []netip.Prefix
	// RootCAs verifies certificates when TLS is required; nil means the
	// system's roots (which SSL_CERT_FILE and SSL_CERT_DIR can change).
	RootCAs *x509.CertPool
	// TLSPolicies decides each MX host's TLS policy (DANE, MTA-STS); nil:
	// delivery.tls alone. TLSReports counts sessions for SMTP TLS
	// reports; nil: none.
	TLSPolicies TLSPolicies
	TLSReports  TLSReports

	Logger   *slog.Logger
	Metrics  *metrics.Metrics // nil: metrics.Discard()
	Notifier Notifier         // may be nil: no notifications
	Events   Events           // may be nil: no delivery events
	// Dialer opens outbound connections; nil means a net.Dialer bound to
	// SourceAddr.
	Dialer dialer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand returns floats in [0,1) for jitter; nil means math/rand/v2.
	Rand func() float64
}

// Engine schedules and runs deliveries.
type Engine struct {
	cfg       Config
	q         Queue
	res       Resolver
	log       *slog.Logger
	m         *metrics.Metrics
	now       func() time.Time
	opener    *sessionOpener
	guard     guard
	pool      *pool
	rates     *rateLimiter
	admission *admission // nil in smarthost mode: one destination
	smarthost smarthostRoute

	stopOnce sync.Once
	stop     chan struct{} // closed by Shutdown: lease no more work
	done     chan struct{} // closed when Run has returned
	abort    context.CancelFunc
	workCtx  context.Context
	inflight sync.WaitGroup
}

// New builds an engine; Run starts it.
func New(cfg Config, q Queue, r Resolver) (*Engine, error) {
	if cfg.Workers < 1 || cfg.Port < 1 || cfg.HeloName == "" || cfg.MaxConnectionsPerDomain < 1 {
		return nil, fmt.Errorf("delivery: workers, port, helo name and per-domain connections must be set (got %d, %d, %q, %d)",
			cfg.Workers, cfg.Port, cfg.HeloName, cfg.MaxConnectionsPerDomain)
	}
	sh, err := parseSmarthost(cfg.Smarthost, cfg.TLS == configs.TLSRequired)
	if err != nil {
		return nil, err
	}
	if cfg.MaxRecipientsPerTransaction < 1 {
		cfg.MaxRecipientsPerTransaction = maxRecipientsPerTransaction
	}
	if cfg.MaxMessagesPerConnection < 1 {
		cfg.MaxMessagesPerConnection = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.Discard()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Dialer == nil {
		d := &net.Dialer{}
		if cfg.SourceAddr.IsValid() {
			d.LocalAddr = &net.TCPAddr{IP: cfg.SourceAddr.AsSlice()}
		}
		cfg.Dialer = d
	}
	workCtx, abort := context.WithCancel(context.Background())
	e := &Engine{
		cfg: cfg, q: q, res: r, log: cfg.Logger, m: cfg.Metrics, now: cfg.Now,
		opener:    &sessionOpener{dialer: cfg.Dialer, heloName: cfg.HeloName, t: cfg.Timeouts, rootCAs: cfg.RootCAs},
		guard:     guard{own: cfg.OwnAddrs, global: netguard.New(cfg.AllowedNetworks)},
		pool:      newPool(cfg.ConnectionIdleTimeout, cfg.Timeouts.Rset),
		rates:     newRateLimiter(),
		smarthost: sh,
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
		workCtx:   workCtx,
		abort:     abort,
	}
	e.opener.onReplyTooLong = func() { e.defence(metrics.DefenceReplyTooLong) }
	e.pool.maxIdle, e.pool.now = cfg.Workers, cfg.Now
	if sh.host != "" && cfg.Smarthost.InsecureSkipVerify {
		e.log.Warn("delivery: delivery.smarthost.insecure_skip_verify is set: the smarthost's certificate is not verified, so an active attacker can pose as it and receive the mail and the AUTH password",
			"smarthost", cfg.Smarthost.Address)
	}
	if sh.host == "" {
		e.admission = newAdmission(func(domain string) int {
			return e.pool.limit(domain, e.routeFor(domain).policy.MaxConnections, cfg.DeadAfter, e.now())
		})
	}
	return e, nil
}

// maxIdle bounds the scheduler's sleep, so a clock jump or a missed wake-up
// delays work by at most this long.
const maxIdle = 30 * time.Second

// Run schedules deliveries until Shutdown is called. It returns after the
// deliveries in flight have ended.
func (e *Engine) Run() error {
	defer close(e.done)
	slots := make(chan struct{}, e.cfg.Workers)
	freed := make(chan struct{}, 1)
	timer := time.NewTimer(0)
	defer timer.Stop()
	var retry leaseRetry
	for {
		select {
		case <-e.stop:
			e.inflight.Wait()
			e.pool.close()
			return nil
		default:
		}
		free := cap(slots) - len(slots)
		leased, refused := 0, 0
		if free > 0 {
			jobs, skipped, err := e.lease(free, &retry)
			if err != nil {
				timer.Reset(retry.failed())
				select {
				case <-e.stop:
				case <-timer.C:
				}
				continue
			}
			refused, leased = skipped, len(jobs)
			for _, m := range jobs {
				slots <- struct{}{}
				e.inflight.Add(1)
				domain := m.DueDomain()
				e.admission.start(domain)
				var once sync.Once
				connectionsDone := func() { once.Do(func() { e.admission.done(domain) }) }
				go func(m *queue.Message) {
					defer func() {
						connectionsDone()
						<-slots
						e.inflight.Done()
						select {
						case freed <- struct{}{}:
						default:
						}
					}()
					e.deliverMessage(m, connectionsDone)
				}(m)
			}
		}
		if leased > 0 && leased == free {
			continue // there may be more due work and a worker may be free soon
		}
		if refused > 0 {
			// Due mail waits for its destinations: a finishing worker or
			// new mail wakes us, and the next deep scan looks past it.
			timer.Reset(deepEvery)
		} else {
			timer.Reset(e.idleFor(free > leased))
		}
		select {
		case <-e.stop:
		case <-e.q.Wake():
		case <-freed:
		case <-timer.C:
		}
		if refused > 0 {
			// Let the workers that finish meanwhile gather, so that one
			// scan past the waiting mail serves them all; admission keeps
			// mail ready for each connection, which covers the gap.
			timer.Reset(rescanGap)
			select {
			case <-e.stop:
			case <-timer.C:
			}
		}
	}
}

// lease takes up to max due messages, passing over those whose
// destination has no room (admission.go); refused is how many it passed.
// It logs the first failure of a run in retry and the recovery.
func (e *Engine) lease(max int, retry *leaseRetry) (jobs []*queue.Message, refused int, err error) {
	now := e.now()
	filter, skipped := e.admission.filter(now)
	jobs, err = e.q.LeaseFiltered(now, max, filter)
	switch {
	case err != nil && retry.failures == 0 && !errors.Is(err, queue.ErrClosed):
		e.log.Error("delivery: lease failed; delivery waits and tries again, backing off up to 1s", "err", err)
	case err != nil:
		e.log.Debug("delivery: lease failed again", "err", err, "failures", retry.failures)
	default:
		if n := retry.succeeded(); n > 0 {
			e.log.Info("delivery: leasing works again", "failed_leases", n)
		}
	}
	return jobs, *skipped, err
}

// idleFor is how long to sleep when nothing more can be leased now.
func (e *Engine) idleFor(haveFreeWorkers bool) time.Duration {
	if !haveFreeWorkers {
		return maxIdle // a finishing worker wakes us
	}
	next, ok := e.q.NextDue()
	if !ok {
		return maxIdle
	}
	return min(max(next.Sub(e.now()), time.Millisecond), maxIdle)
}

// ReviveDestinations forgets the failures of every destination, so that
// dead ones are tried again at once at their full connection cap. An
// operator's flush calls it, as Postfix's postqueue -f revives dead
// destinations. It returns how many destinations were dead or failing.
func (e *Engine) ReviveDestinations() int {
	n := e.pool.revive()
	if n > 0 {
		e.log.Info("delivery: destinations revived by an operator flush", "destinations", n)
	}
	return n
}

// DeadDestinations counts the destinations held off as dead now (see
// dead.go): their mail is deferred without connecting.
func (e *Engine) DeadDestinations() int { return e.pool.deadAt(e.now()) }

// Shutdown stops leasing new work and waits for deliveries in flight until
// ctx ends; then it aborts them, and their leases are returned to the queue.
func (e *Engine) Shutdown(ctx context.Context) error {
	e.stopOnce.Do(func() { close(e.stop) })
	select {
	case <-e.done:
		return nil
	case <-ctx.Done():
		e.abort()
		<-e.done
		return fmt.Errorf("delivery shutdown: %w", ctx.Err())
	}
}
