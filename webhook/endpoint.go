package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/mxout/mxout/events"
)

// scanFactor bounds the records one pass reads, in batches: an endpoint
// whose filter skips most events still posts, or moves on, regularly.
const scanFactor = 10

// maxAnswer bounds what is read of a receiver's answer (then dropped).
const maxAnswer = 64 << 10

// endpoint is one receiver's loop and position.
type endpoint struct {
	s          *Sender
	ep         Endpoint
	label      string // Endpoint.Label: logs and metrics
	cursorName string

	mu     sync.Mutex
	pos    uint64    // the last record acknowledged or skipped, as stored
	oldest time.Time // of the batch in hand; zero when caught up
}

func (e *endpoint) state() (uint64, time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.pos, e.oldest
}

func (e *endpoint) setOldest(t time.Time) {
	e.mu.Lock()
	e.oldest = t
	e.mu.Unlock()
}

// run posts batches in order until ctx ends.
func (e *endpoint) run(ctx context.Context) {
	log := e.s.cfg.Logger.With("endpoint", e.label)
	var wait time.Duration // the backoff after the last failure; 0 after a success
	for ctx.Err() == nil {
		changed := e.s.log.EventsChanged()
		pos, _ := e.state()
		batch, upTo, err := e.collect(pos)
		if err != nil {
			log.Error("webhook: reading the event log failed", "err", err)
			sleep(ctx, e.s.cfg.RetryInitial)
			continue
		}
		if len(batch) == 0 {
			e.setOldest(time.Time{})
			if upTo == pos {
				select {
				case <-ctx.Done():
				case <-changed:
				}
				continue
			}
			// Nothing for this endpoint among them: move past them.
			if !e.ack(ctx, upTo) {
				sleep(ctx, e.s.cfg.RetryInitial)
			}
			continue
		}
		e.setOldest(batch[0].Time)
		if result := e.post(ctx, batch); result != ResultOK {
			if ctx.Err() != nil {
				return
			}
			wait = nextWait(wait, e.s.cfg.RetryInitial, e.s.cfg.RetryMax)
			log.Warn("webhook: POST failed; trying again", "result", result, "events", len(batch), "first", batch[0].ID, "in", wait)
			sleep(ctx, wait)
			continue
		}
		wait = 0
		if !e.ack(ctx, upTo) {
			sleep(ctx, e.s.cfg.RetryInitial)
		}
	}
}

// nextWait doubles the backoff within [initial, max].
func nextWait(prev, initial, max time.Duration) time.Duration {
	if prev < initial {
		return initial
	}
	return min(2*prev, max)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// collect reads the log after pos and returns up to BatchSize events for
// this endpoint, and the position that covers them: every record up to
// upTo is in the batch or is not for this endpoint. Events older than the
// retention are dropped, as are records that do not decode.
func (e *endpoint) collect(pos uint64) (batch []*events.Event, upTo uint64, err error) {
	cfg := &e.s.cfg
	upTo = pos
	expired := 0
	defer func() {
		if expired > 0 {
			cfg.Logger.Warn("webhook: dropped events never acknowledged within events.retention", "endpoint", e.label, "events", expired)
		}
	}()
	for scanned := 0; scanned < scanFactor*cfg.BatchSize; {
		recs, err := e.s.log.Events(upTo, cfg.BatchSize)
		if err != nil {
			return nil, pos, err
		}
		for _, r := range recs {
			upTo = r.Seq
			scanned++
			ev, err := events.Decode(r.Data)
			switch {
			case err != nil:
				cfg.Logger.Error("webhook: skipping an event that does not decode", "endpoint", e.label, "seq", r.Seq, "err", err)
			case cfg.Retention > 0 && cfg.Now().Sub(r.Time) > cfg.Retention:
				expired++
			case e.ep.Filter.Match(ev):
				batch = append(batch, ev)
				if len(batch) == cfg.BatchSize {
					return batch, upTo, nil
				}
			}
		}
		if len(recs) < cfg.BatchSize {
			break
		}
	}
	return batch, upTo, nil
}

// ack stores the endpoint's new position; false when it could not (the
// batch is then posted again later).
func (e *endpoint) ack(ctx context.Context, upTo uint64) bool {
	if err := e.s.log.SetEventCursor(e.cursorName, upTo); err != nil {
		if ctx.Err() == nil {
			e.s.cfg.Logger.Error("webhook: storing the endpoint's position failed", "endpoint", e.label, "err", err)
		}
		return false
	}
	e.mu.Lock()
	e.pos = upTo
	e.mu.Unlock()
	return true
}

// post sends one batch and classifies the outcome.
func (e *endpoint) post(ctx context.Context, batch []*events.Event) string {
	result, err := e.send(ctx, batch)
	if o := e.s.cfg.Observer; o != nil && ctx.Err() == nil {
		o.Posted(e.label, result)
	}
	if err != nil && ctx.Err() == nil {
		e.s.cfg.Logger.Debug("webhook: POST failed", "endpoint", e.label, "err", err)
	}
	return result
}

func (e *endpoint) send(ctx context.Context, batch []*events.Event) (string, error) {
	cfg := &e.s.cfg
	body, err := json.Marshal(struct {
		Events []*events.Event `json:"events"`
	}{batch})
	if err != nil {
		return ResultError, fmt.Errorf("encode batch: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.ep.URL, bytes.NewReader(body))
	if err != nil {
		return ResultError, withoutURL(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, Sign(e.ep.Secret, cfg.Now(), body))
	if cfg.UserAgent != "" {
		req.Header.Set("User-Agent", cfg.UserAgent)
	}
	resp, err := cfg.Client.Do(req)
	if err != nil {
		err = withoutURL(err)
		if errors.Is(err, context.DeadlineExceeded) {
			return ResultTimeout, err
		}
		return ResultError, err
	}
	// Read (a bounded part of) the answer so that the connection is reused;
	// the status alone decides.
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return ResultStatus, fmt.Errorf("answered %s", resp.Status)
	}
	return ResultOK, nil
}

// withoutURL drops the URL that net/http's errors quote (*url.Error): it
// may hold the receiver's token, and the logs name the endpoint by its
// label instead.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
