package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/mxout/mxout/admin"
	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/delivery"
	"github.com/mxout/mxout/internal/netguard"
	"github.com/mxout/mxout/mtasts"
	"github.com/mxout/mxout/queue"
	"github.com/mxout/mxout/resolver"
	"github.com/mxout/mxout/tlspolicy"
	"github.com/mxout/mxout/tlsrpt"
)

// tlsParts are the relay's outbound TLS policy parts (issue 16): the
// MTA-STS cache, the per-host policies delivery asks, and the TLS
// reporter with its loop.
type tlsParts struct {
	sts      *mtasts.Cache // nil when delivery.mta_sts is off
	policies *tlspolicy.Policies
	reporter *tlsrpt.Reporter // nil when delivery.tls_reporting.enabled is off
	stop     context.CancelFunc
	done     chan struct{}
}

// startTLSParts builds the TLS policy parts on the queue database (the
// kv areas "mta-sts" and "tlsrpt") and starts the report loop.
func startTLSParts(c *configs.Config, q *queue.Queue, res *resolver.Resolver, signer reportSigner, log *slog.Logger) (*tlsParts, error) {
	p := &tlsParts{done: make(chan struct{})}
	guard := netguard.New(c.Delivery.AllowedNetworks)
	var sts tlspolicy.STS
	if c.Delivery.MTASTS {
		kv, err := q.KV("mta-sts")
		if err != nil {
			return nil, err
		}
		if p.sts, err = mtasts.New(mtasts.Config{Resolver: res, Guard: guard, Store: kv, Logger: log}); err != nil {
			return nil, fmt.Errorf("delivery.mta_sts: %w", err)
		}
		sts = p.sts
	}
	p.policies = tlspolicy.New(tlsPolicyConfig(c, res, sts))
	ctx, cancel := context.WithCancel(context.Background())
	p.stop = cancel
	r := c.Delivery.TLSReporting
	if !r.Enabled {
		close(p.done)
		return p, nil
	}
	kv, err := q.KV("tlsrpt")
	if err != nil {
		cancel()
		return nil, err
	}
	org, contact := r.Organization, r.Contact
	if org == "" {
		org = c.Hostname
	}
	if contact == "" {
		contact = "postmaster@" + c.Hostname
	}
	p.reporter, err = tlsrpt.New(tlsrpt.Config{
		Resolver: res, Guard: guard, Store: kv, Interval: r.Interval,
		Mailer:       &reportMailer{q: q, signer: signer, from: contact},
		Organization: org, Contact: contact, Submitter: c.Hostname, From: contact, Logger: log,
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("delivery.tls_reporting: %w", err)
	}
	go func() {
		defer close(p.done)
		p.reporter.Run(ctx)
	}()
	return p, nil
}

// tlsPolicyConfig is the TLS policy config that serve runs and `mxout tls
// check` explains: DANE only with delivery.dane and a resolver asking for
// DNSSEC, whose answers DANE needs; sts is nil with delivery.mta_sts off.
func tlsPolicyConfig(c *configs.Config, res *resolver.Resolver, sts tlspolicy.STS) tlspolicy.Config {
	return tlspolicy.Config{Resolver: res, STS: sts, DANE: c.Delivery.DANE && c.Resolver.DNSSEC, Port: c.Delivery.Port}
}

// deliveryParts gives delivery the policies and the reporter.
func (p *tlsParts) deliveryParts(cfg *delivery.Config) {
	cfg.TLSPolicies = p.policies
	if p.reporter != nil {
		cfg.TLSReports = p.reporter
	}
}

// mtastsCache is the MTA-STS cache for the admin API, nil when off.
func (p *tlsParts) mtastsCache() admin.MTASTSCache {
	if p.sts == nil {
		return nil
	}
	return p.sts
}

// close stops the report loop (which saves the counts) and fetches in
// flight; the queue must still be open.
func (p *tlsParts) close() {
	p.stop()
	<-p.done
	if p.sts != nil {
		p.sts.Close()
	}
}

// reportSigner DKIM-signs mailed TLS reports (dkim.Signer).
type reportSigner interface {
	SignDomain(domain string, msg []byte) ([]byte, error)
}

// reportMailer queues mailed TLS reports from the null sender, marked so
// that delivery holds them to delivery.tls only (RFC 8460 §3: they must
// get through despite TLS failures) and leaves them out of the reports.
type reportMailer struct {
	q      *queue.Queue
	signer reportSigner
	from   string // the From: address, whose domain signs
}

func (m *reportMailer) SubmitReport(ctx context.Context, to []string, msg []byte) error {
	env := queue.Envelope{From: "", Client: delivery.TLSReportClient}
	for _, a := range to {
		env.To = append(env.To, queue.RecipientParams{Addr: a})
	}
	if m.signer != nil {
		_, domain, _ := strings.Cut(m.from, "@")
		if signed, err := m.signer.SignDomain(domain, msg); err == nil {
			msg = signed
		}
	}
	_, err := m.q.Enqueue(ctx, "", env, msg)
	return err
}
