package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mxout/mxout/admin"
	"github.com/mxout/mxout/bounce"
	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/delivery"
	"github.com/mxout/mxout/dkim"
	"github.com/mxout/mxout/internal/queueconfig"
	"github.com/mxout/mxout/metrics"
	"github.com/mxout/mxout/queue"
	"github.com/mxout/mxout/resolver"
	"github.com/mxout/mxout/submission"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
)

func newServeCmd(p paths) *cobra.Command {
	var config *configFile
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the relay",
		Long: "Runs the relay: SMTP submission, the queue, delivery, the metrics\n" +
			"endpoint, the admin API, and the HTTP API and webhooks when configured.\n" +
			"With no config file (no --config, no $MXOUT_CONFIG, no " + p.systemConfig + ")\n" +
			"it runs on embedded defaults: submission on 127.0.0.1:2525 (loopback\n" +
			"may relay without AUTH), the queue in ./mxout-data, metrics on\n" +
			"127.0.0.1:9090, the admin API on 127.0.0.1:8025 and on admin.sock in the\n" +
			"queue's directory. SIGTERM or SIGINT stop it gracefully; SIGHUP reloads\n" +
			"the DKIM keys, the submission users and certificate, and the HTTP API's\n" +
			"keys and certificate (a part that fails to reload keeps what it had) and\n" +
			"logs a WARN line naming every other changed key, which needs a restart.",
		Example: "  mxout serve\n  mxout serve --config /etc/mxout/mxout.yaml",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, src, err := config.load()
			if err != nil {
				return err
			}
			log := newLogger(c.Log, os.Stderr)
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			return runRelay(ctx, c, src, log)
		},
	}
	config = addConfigFlag(cmd, p, false)
	return cmd
}

// relay is the running process: its parts in dependency order.
type relay struct {
	cfg        *configs.Config
	configSrc  configSource // re-read on SIGHUP
	log        *slog.Logger
	signer     *dkim.Signer
	reloadMu   sync.Mutex // guards reloaders and m; held during a reload
	reloaders  []reloader
	m          *metrics.Metrics      // nil until the parts have started
	certs      *submission.CertStore // nil without submission.tls
	q          *queue.Queue
	engine     *delivery.Engine
	tls        *tlsParts
	submission *submission.Server
	metricsSrv *metrics.Server
	adminSrv   *admin.Server
	apps       apps // the HTTP API, delivery events and webhooks (apps.go)
	listeners  []net.Listener
	serving    atomic.Int64 // submission listeners whose Serve is running
	stopping   atomic.Bool
	done       chan struct{} // closed by stop, for background loops
	errs       chan error
}

// runRelay starts every part, waits for ctx to end (a signal) or a part to
// fail, and stops them in reverse order.
func runRelay(ctx context.Context, c *configs.Config, src configSource, log *slog.Logger) error {
	r := &relay{cfg: c, configSrc: src, log: log, done: make(chan struct{}), errs: make(chan error, 8)}
	stopHUP := r.handleSIGHUP()
	defer stopHUP()
	if err := r.start(); err != nil {
		r.stop()
		return err
	}
	b := currentBuild()
	log.Info("mxout started", "version", b.version, "commit", b.commit, "config", r.configSrc.String(), "hostname", c.Hostname, "data_dir", c.DataDir,
		"submission", listenerAddrs(r.listeners), "metrics", c.Metrics.Listen, "api", c.API.Listen, "admin", c.Admin.Listen, "admin_socket", c.AdminSocket())
	notifySystemd(log, "READY=1\nSTATUS=accepting mail")
	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down", "reason", "signal")
	case runErr = <-r.errs:
		log.Error("shutting down", "reason", runErr)
	}
	notifySystemd(log, "STOPPING=1")
	r.stop()
	log.Info("mxout stopped")
	return runErr
}

func (r *relay) start() error {
	c := r.cfg
	reg := prometheus.NewRegistry()
	m := metrics.NewWithOptions(reg, metrics.Options{Domains: c.Metrics.Domains})
	// Keys first: a missing key is a config error, found before the queue opens.
	if err := r.startDKIM(m); err != nil {
		return err
	}
	q, err := queue.Open(queueconfig.Options(c, r.log))
	if err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	r.q = q
	metrics.RegisterQueue(reg, func() metrics.QueueSnapshot {
		s := q.Stats()
		return metrics.QueueSnapshot{
			Ready: s.Ready, Deferred: s.Deferred, Inflight: s.Inflight, Held: s.Held, Bytes: s.Bytes, Oldest: s.Oldest,
			QuarantinedTotal: s.QuarantinedTotal,
		}
	}, nil)

	rc := resolverConfig(c)
	rc.Observer = m
	res, err := resolver.New(rc)
	if err != nil {
		return fmt.Errorf("resolver: %w", err)
	}

	// Bind every socket before starting anything, so a taken port is a
	// clean start-up error.
	for _, l := range c.Submission.Listeners {
		ln, err := net.Listen("tcp", l.Address.String())
		if err != nil {
			return fmt.Errorf("submission.listeners: listen on %s: %w", l.Address, err)
		}
		r.listeners = append(r.listeners, ln)
	}
	var metricsLn net.Listener
	if !c.Metrics.Listen.IsZero() {
		if metricsLn, err = net.Listen("tcp", c.Metrics.Listen.String()); err != nil {
			return fmt.Errorf("metrics.listen: listen on %s: %w", c.Metrics.Listen, err)
		}
	}
	adminLns, err := listenAdmin(c)
	if err != nil {
		return err
	}
	var apiLn net.Listener
	if !c.API.Listen.IsZero() {
		if apiLn, err = net.Listen("tcp", c.API.Listen.String()); err != nil {
			return fmt.Errorf("api.listen: listen on %s: %w", c.API.Listen, err)
		}
	}
	if err := r.startEvents(reg); err != nil {
		return err
	}

	notifier, err := bounce.New(bounceConfig(c, r.log, m, r.signer), q)
	if err != nil {
		return err
	}
	dcfg := deliveryConfig(c, r.log, m, ownAddrs(r.listeners), notifier)
	if r.tls, err = startTLSParts(c, q, res, r.signer, r.log); err != nil {
		return err
	}
	r.tls.deliveryParts(&dcfg)
	dcfg.Events = r.apps.recorder
	if dcfg.Smarthost.RootCAs, err = smarthostRoots(c.Delivery.Smarthost.CAFile); err != nil {
		return err
	}
	r.engine, err = delivery.New(dcfg, q, res)
	if err != nil {
		return err
	}
	go func() { r.report(r.engine.Run()) }()

	if err := r.startSubmission(m); err != nil {
		return err
	}
	r.observe(reg, m)
	if apiLn != nil {
		if err := r.startAPI(apiLn); err != nil {
			return err
		}
	}
	for i, ln := range r.listeners {
		r.serving.Add(1)
		go func(ln net.Listener, mode configs.TLSMode) {
			defer r.serving.Add(-1)
			r.report(r.submission.Serve(ln, mode))
		}(ln, c.Submission.Listeners[i].TLS)
	}
	if metricsLn != nil {
		metrics.RegisterReady(reg, r.ready)
		r.metricsSrv = metrics.NewServer(reg, r.ready, metrics.ServerOptions{Pprof: c.Metrics.Pprof})
		go func() { r.report(r.metricsSrv.Serve(metricsLn)) }()
	}
	if adminLns.tcp != nil || adminLns.unix != nil {
		r.adminSrv = admin.New(admin.Config{
			Token:        c.Admin.Token,
			Names:        adminNames(c),
			Bouncer:      notifier,
			Destinations: r.engine,
			MTASTS:       r.tls.mtastsCache(),
			Logger:       r.log,
		}, q)
		for _, ln := range []net.Listener{adminLns.tcp, adminLns.unix} {
			if ln != nil {
				go func() { r.report(r.adminSrv.Serve(ln)) }()
			}
		}
	}
	return nil
}

// adminNames are the names a request to the admin API may give as its
// Host, besides localhost and the address it came in on.
func adminNames(c *configs.Config) []string {
	names := []string{c.Hostname}
	if host := c.Admin.Listen.Host; host != "" {
		names = append(names, host)
	}
	return names
}

// report passes a part's unexpected exit to runRelay.
func (r *relay) report(err error) {
	if err != nil && !r.stopping.Load() {
		r.errs <- err
	}
}

// ready is /readyz: not while stopping, only while every submission
// listener is serving, and only while the queue can take a message of the
// largest size.
func (r *relay) ready() error {
	if r.stopping.Load() {
		return errors.New("shutting down")
	}
	if n, want := r.serving.Load(), int64(len(r.listeners)); n < want {
		return fmt.Errorf("%d of %d submission listeners serving", n, want)
	}
	return r.q.Writable()
}

// stop shuts the parts down in reverse dependency order: no new mail,
// then in-flight deliveries finish (up to delivery.shutdown_timeout) or
// are returned to the queue, then the queue is closed and synced.
func (r *relay) stop() {
	r.stopping.Store(true)
	close(r.done)
	timeout := r.cfg.Delivery.ShutdownTimeout
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if r.submission != nil {
		if err := r.submission.Shutdown(ctx); err != nil {
			r.log.Warn("submission shutdown", "err", err)
		}
	} else {
		for _, ln := range r.listeners {
			ln.Close()
		}
	}
	r.stopAPI(ctx)
	if r.adminSrv != nil {
		// Operator changes end before the queue closes; an open request
		// gets a few seconds.
		actx, acancel := context.WithTimeout(context.Background(), 5*time.Second)
		r.adminSrv.Shutdown(actx)
		acancel()
	}
	if r.engine != nil {
		if err := r.engine.Shutdown(ctx); err != nil {
			r.log.Warn("delivery shutdown: deliveries still running were aborted and will be retried", "err", err)
		}
	}
	if r.tls != nil {
		r.tls.close() // saves the TLS report counts: before the queue closes
	}
	if r.metricsSrv != nil {
		sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
		r.metricsSrv.Shutdown(sctx)
		scancel()
	}
	r.stopEvents()
	if r.q != nil {
		if err := r.q.Close(); err != nil {
			r.log.Error("closing the queue", "err", err)
		}
	}
}

func deliveryConfig(c *configs.Config, log *slog.Logger, m *metrics.Metrics, own []netip.AddrPort, n delivery.Notifier) delivery.Config {
	d := c.Delivery
	return delivery.Config{
		Workers:                     d.Workers,
		Port:                        d.Port,
		HeloName:                    d.HeloName,
		TLS:                         d.TLS,
		MaxConnectionsPerDomain:     d.MaxConnectionsPerDomain,
		MaxRecipientsPerTransaction: d.MaxRecipientsPerTransaction,
		MaxMessagesPerConnection:    d.MaxMessagesPerConnection,
		MaxMXAddresses:              d.MaxMXAddresses,
		MaxMXSessions:               d.MaxMXSessions,
		ConnectionIdleTimeout:       d.ConnectionIdleTimeout,
		Domains:                     d.Domains,
		IPFamily:                    d.IPFamily,
		SourceAddr:                  d.SourceAddress,
		DeadAfter:                   d.DeadDestination.Failures,
		DeadHold:                    d.DeadDestination.Hold,
		Smarthost: delivery.Smarthost{
			Address: d.Smarthost.Address, Username: d.Smarthost.Username,
			Password: d.Smarthost.Password, TLS: d.Smarthost.TLS,
			InsecureSkipVerify: d.Smarthost.InsecureSkipVerify,
		},
		Retry: delivery.Backoff{
			Initial: d.Retry.Initial, Multiplier: d.Retry.Multiplier, MaxInterval: d.Retry.MaxInterval,
			Jitter: d.Retry.Jitter, MaxLifetime: d.Retry.MaxLifetime,
		},
		Timeouts:        d.Timeouts,
		OwnAddrs:        own,
		AllowedNetworks: d.AllowedNetworks,
		Logger:          log,
		Metrics:         m,
		Notifier:        n,
	}
}

// resolverConfig is the resolver section as the resolver takes it.
func resolverConfig(c *configs.Config) resolver.Config {
	var servers []string
	for _, s := range c.Resolver.Servers {
		servers = append(servers, s.String())
	}
	return resolver.Config{Servers: servers, Timeout: c.Resolver.Timeout, DNSSEC: c.Resolver.DNSSEC}
}

func bounceConfig(c *configs.Config, log *slog.Logger, m *metrics.Metrics, signer bounce.Signer) bounce.Config {
	return bounce.Config{
		Hostname:         c.Hostname,
		Postmaster:       c.DSN.Postmaster,
		MaxOriginalBytes: int64(c.DSN.MaxOriginalBytes),
		DelayNoticeAfter: c.Delivery.Retry.DelayNoticeAfter,
		MaxLifetime:      c.Delivery.Retry.MaxLifetime,
		Signer:           signer,
		Logger:           log,
		Metrics:          m,
	}
}

func ownAddrs(ls []net.Listener) []netip.AddrPort {
	var out []netip.AddrPort
	for _, l := range ls {
		if ap, err := netip.ParseAddrPort(l.Addr().String()); err == nil {
			out = append(out, ap)
		}
	}
	return out
}

func listenerAddrs(ls []net.Listener) []string {
	var out []string
	for _, l := range ls {
		out = append(out, l.Addr().String())
	}
	return out
}

// smarthostRoots reads delivery.smarthost.ca_file: the CA certificates
// that verify the smarthost; nil without one (the system's roots).
func smarthostRoots(path string) (*x509.CertPool, error) {
	if path == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("delivery.smarthost.ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("delivery.smarthost.ca_file: no PEM certificate in %s", path)
	}
	return pool, nil
}
