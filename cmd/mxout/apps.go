package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mxout/mxout/api"
	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/events"
	"github.com/mxout/mxout/metrics"
	"github.com/mxout/mxout/submission"
	"github.com/mxout/mxout/webhook"
)

// pruneEvery is how often events past events.retention and expired
// Idempotency-Key receipts are deleted.
const pruneEvery = time.Minute

// apps are the parts for applications besides SMTP: the delivery events
// (recorded with the results, posted to webhooks, pruned) and the HTTP API.
type apps struct {
	m        *metrics.Apps
	recorder *events.Recorder
	hooks    *webhook.Sender
	api      *api.Server
	front    *api.Front
	// stopHooks ends the webhook sender; loops waits for it and for the
	// pruning, which touch the queue and so end before it closes.
	stopHooks context.CancelFunc
	loops     sync.WaitGroup
}

// startEvents makes the event recorder for delivery, and starts the
// webhooks and the pruning. The webhook sender fixes a new endpoint's
// position here, before delivery writes the first event it must get.
func (r *relay) startEvents(reg prometheus.Registerer) error {
	c := r.cfg
	hooks := webhookConfig(c, r.log)
	var labels []string
	for _, e := range hooks.Endpoints {
		labels = append(labels, e.Label())
	}
	a := &r.apps
	a.m = metrics.NewApps(reg, labels)
	hooks.Observer = a.m
	a.recorder = &events.Recorder{
		DelayAfter: c.Delivery.Retry.DelayNoticeAfter,
		Count:      func(t events.Type) { a.m.Event(string(t)) },
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.stopHooks = cancel
	if len(c.Webhooks.Endpoints) > 0 {
		var err error
		if a.hooks, err = webhook.New(hooks, r.q); err != nil {
			return fmt.Errorf("webhooks.endpoints: %w", err)
		}
		metrics.RegisterWebhooks(reg, a.webhookStatus, nil)
		a.loops.Go(func() { a.hooks.Run(ctx) })
	}
	a.loops.Go(func() { r.prune(ctx) })
	return nil
}

func webhookConfig(c *configs.Config, log *slog.Logger) webhook.Config {
	w := c.Webhooks
	cfg := webhook.Config{
		BatchSize: w.BatchSize, Timeout: w.Timeout, RetryInitial: w.Retry.Initial, RetryMax: w.Retry.MaxInterval,
		Retention: c.Events.Retention, UserAgent: "mxout/" + currentBuild().version, Logger: log,
	}
	for _, e := range w.Endpoints {
		ep := webhook.Endpoint{Name: e.Name, URL: e.URL, Secret: e.Secret, Filter: events.Filter{Names: e.Keys}}
		for _, t := range e.Events {
			ep.Filter.Types = append(ep.Filter.Types, events.Type(t)) // configs checked them
		}
		cfg.Endpoints = append(cfg.Endpoints, ep)
	}
	return cfg
}

func (a *apps) webhookStatus() []metrics.WebhookStatus {
	var out []metrics.WebhookStatus
	for _, s := range a.hooks.Status() {
		out = append(out, metrics.WebhookStatus{Endpoint: s.Endpoint, Backlog: s.Backlog, Oldest: s.Oldest})
	}
	return out
}

// prune deletes events past events.retention and expired receipts, at
// start and every pruneEvery, until ctx ends.
func (r *relay) prune(ctx context.Context) {
	t := time.NewTicker(pruneEvery)
	defer t.Stop()
	for {
		now := time.Now()
		if n, err := r.q.PruneEvents(now.Add(-r.cfg.Events.Retention)); err != nil {
			r.log.Warn("events: pruning old events failed; trying again later", "err", err)
		} else if n > 0 {
			r.log.Info("events: deleted events past events.retention", "events", n)
		}
		if _, err := r.q.PruneReceipts(now); err != nil {
			r.log.Warn("api: pruning expired Idempotency-Key answers failed; trying again later", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// startAPI serves the HTTP API on ln (api.listen), its messages going
// through submission's checks. A SIGHUP reloads api.keys and api.tls.
func (r *relay) startAPI(ln net.Listener) error {
	c := r.cfg
	keys := apiKeys(c.API)
	var certs *submission.CertStore
	var tlsConf *tls.Config
	if c.API.TLS.CertFile != "" {
		var err error
		if certs, err = submission.NewCertStore(c.API.TLS.CertFile, c.API.TLS.KeyFile); err != nil {
			return fmt.Errorf("api.tls: %w", err)
		}
		tlsConf = certs.TLSConfig()
	}
	a := &r.apps
	var err error
	if a.front, err = api.NewFront(r.submission, r.q, keys, nil); err != nil {
		return fmt.Errorf("api.keys: %w", err)
	}
	a.api, err = api.New(api.Config{
		Hostname: c.Hostname, Keys: keys,
		MaxMessageBytes: int64(c.Submission.MaxMessageBytes), MaxRecipients: c.Submission.MaxRecipients,
		TLSConfig: tlsConf, Observer: a.m, Logger: r.log,
	}, a.front, r.q)
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	go func() { r.report(a.api.Serve(ln)) }()
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	r.reloaders = append(r.reloaders, reloader{name: "api.keys", keys: []string{"api.keys"}, apply: func(c *configs.Config) error {
		keys := apiKeys(c.API)
		if err := a.front.SetKeys(keys); err != nil {
			return fmt.Errorf("api.keys: %w", err)
		}
		return a.api.SetKeys(keys)
	}})
	if certs != nil {
		r.reloaders = append(r.reloaders, reloader{name: "api.tls", keys: []string{"api.tls.cert_file", "api.tls.key_file"}, apply: func(c *configs.Config) error {
			if c.API.TLS.CertFile == "" {
				return fmt.Errorf("api.tls.cert_file: the certificate cannot be removed without a restart")
			}
			if err := certs.LoadFiles(c.API.TLS.CertFile, c.API.TLS.KeyFile); err != nil {
				return fmt.Errorf("api.tls: %w", err)
			}
			return nil
		}})
	}
	return nil
}

func apiKeys(c configs.API) []api.Key {
	keys := make([]api.Key, len(c.Keys))
	for i, k := range c.Keys {
		keys[i] = api.Key{Name: k.Name, TokenSHA256: k.TokenSHA256, AllowedSenders: k.AllowedSenders}
	}
	return keys
}

// stopAPI ends the API (no new mail; a send in its commit finishes
// within ctx).
func (r *relay) stopAPI(ctx context.Context) {
	if r.apps.api != nil {
		if err := r.apps.api.Shutdown(ctx); err != nil {
			r.log.Warn("api shutdown", "err", err)
		}
	}
}

// stopEvents ends the webhooks and the pruning, before the queue closes.
func (r *relay) stopEvents() {
	if r.apps.stopHooks != nil {
		r.apps.stopHooks()
		r.apps.loops.Wait()
	}
}
