package tlsrpt

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/mxout/mxout/resolver"
)

// sendBatch sends each domain's report after delay, a few at a time.
func (r *Reporter) sendBatch(ctx context.Context, batch []*pending, delay time.Duration) {
	if len(batch) == 0 {
		return
	}
	select {
	case <-time.After(delay):
	case <-ctx.Done():
		return
	}
	sem := make(chan struct{}, parallelSends)
	var wg sync.WaitGroup
	for _, p := range batch {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			r.sendOne(ctx, p)
		})
	}
	wg.Wait()
}

// sendOne sends one report, and forgets it once it is sent, the domain
// wants none, or it has been retried for a day.
func (r *Reporter) sendOne(ctx context.Context, p *pending) {
	sctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	err := r.deliver(sctx, p)
	if err == nil || errors.Is(err, ErrNoRecord) || errors.Is(err, ErrRecordInvalid) {
		if err == nil {
			r.log.Info("tlsrpt: report sent", "domain", p.domain, "window_start", p.counts.Start, "window_end", p.end)
		}
		r.forget(p)
		return
	}
	if ctx.Err() != nil {
		return // shutting down: the counts stay stored, merged at the next start
	}
	p.attempts++
	p.next = r.now().Add(min(time.Duration(1<<min(p.attempts, 8))*r.flushEvery, 4*time.Hour))
	if p.next.Sub(p.end) > retryFor {
		r.log.Warn("tlsrpt: giving up on a report", "domain", p.domain, "attempts", p.attempts, "err", err)
		r.forget(p)
		return
	}
	r.log.Warn("tlsrpt: report not sent; will retry", "domain", p.domain, "next", p.next, "err", err)
	r.mu.Lock()
	r.pending = append(r.pending, p)
	r.mu.Unlock()
}

func (r *Reporter) forget(p *pending) {
	if r.cfg.Store == nil {
		return
	}
	if err := r.cfg.Store.Delete(p.key); err != nil {
		r.log.Warn("tlsrpt: cannot delete sent counts", "key", p.key, "err", err)
	}
}

// deliver looks up the domain's record and sends the report to each of
// its addresses; it succeeds when one of them took it.
func (r *Reporter) deliver(ctx context.Context, p *pending) error {
	txts, err := r.cfg.Resolver.LookupTXT(ctx, "_smtp._tls."+p.domain)
	if err != nil {
		var re *resolver.Error
		if errors.As(err, &re) && (re.Kind == resolver.KindNXDomain || re.Kind == resolver.KindNoData) {
			return ErrNoRecord
		}
		return fmt.Errorf("look up _smtp._tls.%s: %w", p.domain, err)
	}
	rec, err := PickRecord(txts)
	if err != nil {
		return err
	}
	report := r.report(p)
	gz, err := report.Gzip()
	if err != nil {
		return err
	}
	var mailto []string
	var errs []error
	sent := false
	for _, u := range rec.RUA {
		if u.Scheme == "mailto" {
			mailto = append(mailto, mailtoAddr(u))
			continue
		}
		if err := r.post.post(ctx, u, gz); err != nil {
			errs = append(errs, err)
			continue
		}
		sent = true
	}
	if len(mailto) > 0 {
		msg, err := Message(report, gz, p.domain, r.cfg.Submitter, r.cfg.From, mailto, r.now())
		if err == nil {
			err = r.cfg.Mailer.SubmitReport(ctx, mailto, msg)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("mail report to %s: %w", strings.Join(mailto, ", "), err))
		} else {
			sent = true
		}
	}
	if sent {
		for _, err := range errs {
			r.log.Warn("tlsrpt: a report address failed; others took the report", "domain", p.domain, "err", err)
		}
		return nil
	}
	return errors.Join(errs...)
}

// report builds the JSON report of p.
func (r *Reporter) report(p *pending) *Report {
	rep := &Report{
		OrganizationName: r.cfg.Organization,
		DateRange:        DateRange{Start: p.counts.Start, End: p.end},
		ContactInfo:      r.cfg.Contact,
		ReportID:         newReportID(p.end, r.cfg.Submitter),
	}
	for _, pr := range p.counts.Policies {
		rep.Policies = append(rep.Policies, *pr)
	}
	return rep
}
