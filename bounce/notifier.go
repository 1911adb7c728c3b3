package bounce

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/mxout/mxout/dsn"
	"github.com/mxout/mxout/metrics"
	"github.com/mxout/mxout/queue"
)

// Queue is what the notifier needs from the queue.
type Queue interface {
	// Enqueue stores a report durably under id before it returns.
	Enqueue(ctx context.Context, id queue.ID, env queue.Envelope, body []byte) (queue.ID, error)
}

// Signer is what the notifier needs from a DKIM signer (package dkim).
type Signer interface {
	// SignDomain signs msg with domain's keys, and returns it unchanged
	// when domain has none.
	SignDomain(domain string, msg []byte) ([]byte, error)
}

// Config configures a Notifier. cmd/mxout fills it from configs.
type Config struct {
	// Hostname is this relay's name: Reporting-MTA and MAILER-DAEMON@Hostname.
	Hostname string
	// Postmaster gets the failure reports about null-sender mail; empty:
	// they are only logged.
	Postmaster string
	// MaxOriginalBytes is the largest original returned whole when the
	// sender gave no RET; a larger one is returned as its header.
	MaxOriginalBytes int64
	// DelayNoticeAfter is how long a message waits before a delay notice;
	// 0 disables delay notices.
	DelayNoticeAfter time.Duration
	// MaxLifetime is how long the relay retries (Will-Retry-Until).
	MaxLifetime time.Duration

	// Signer DKIM-signs the reports with the key of Hostname (their From:
	// is MAILER-DAEMON@Hostname), when it has one; nil: unsigned.
	Signer Signer

	Logger  *slog.Logger
	Metrics *metrics.Metrics // nil: metrics.Discard()
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Notifier queues the delivery status notifications of delivery rounds.
// It is safe for concurrent use.
type Notifier struct {
	cfg Config
	q   Queue
	log *slog.Logger
	now func() time.Time
}

// New checks cfg and returns a Notifier that queues reports on q.
func New(cfg Config, q Queue) (*Notifier, error) {
	if cfg.Hostname == "" || strings.ContainsAny(cfg.Hostname, " \t\r\n<>") {
		return nil, fmt.Errorf("bounce: hostname %q is not a host name", cfg.Hostname)
	}
	if cfg.Postmaster != "" && !strings.Contains(cfg.Postmaster, "@") {
		return nil, fmt.Errorf("bounce: postmaster %q is not an address", cfg.Postmaster)
	}
	if cfg.MaxOriginalBytes < 0 || cfg.DelayNoticeAfter < 0 || cfg.MaxLifetime < 0 {
		return nil, errors.New("bounce: sizes and durations must not be negative")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.Discard()
	}
	return &Notifier{cfg: cfg, q: q, log: cfg.Logger, now: cfg.Now}, nil
}

// Notify queues the round's failure, success and delay reports. Its error
// is about the failure report only: the others are logged when they
// cannot be queued (a success notice is then lost; a delay notice is
// tried again next round).
func (n *Notifier) Notify(ctx context.Context, r queue.Round) (queue.Notified, error) {
	err := n.failure(ctx, r)
	n.success(ctx, r)
	return queue.Notified{DelayNotified: n.delay(ctx, r)}, err
}

// failure reports the round's failed recipients to the sender.
func (n *Notifier) failure(ctx context.Context, r queue.Round) error {
	m := r.Message
	var all, wanted []dsn.Recipient
	for _, res := range r.Results {
		if res.State != queue.Failed {
			continue
		}
		p := m.Recipients[res.Index].RecipientParams
		rc := dsn.Recipient{Addr: p.Addr, ORCPT: p.ORCPT, Action: dsn.Failed, Status: res.Status,
			RemoteMTA: res.RemoteMTA, Response: res.Response, LastAttempt: res.Attempted}
		all = append(all, rc)
		if wants(p, "FAILURE") {
			wanted = append(wanted, rc)
		}
	}
	switch {
	case len(all) == 0:
		return nil
	case m.From == "":
		return n.nullSender(ctx, r, all)
	case len(wanted) == 0:
		n.log.Info("bounce: no failure notice: NOTIFY excludes it", "queue_id", m.ID, "recipients", addrs(all))
		return nil
	}
	rep := n.report(dsn.Failure, r, m.From, wanted)
	rep.Return, rep.Note = n.failureReturn(m, r.Body)
	return n.send(ctx, m, rep)
}

// nullSender handles failed mail from <>: never returned (no loops, no
// backscatter); a copy goes to the postmaster unless it is about mail to
// the postmaster.
func (n *Notifier) nullSender(ctx context.Context, r queue.Round, failed []dsn.Recipient) error {
	m := r.Message
	pm := n.cfg.Postmaster
	for _, rc := range failed {
		if pm != "" && strings.EqualFold(rc.Addr, pm) {
			n.log.Warn("bounce: dropped: null-sender mail to the postmaster failed (double bounce)", "queue_id", m.ID, "recipients", addrs(failed))
			return nil
		}
	}
	if pm == "" {
		n.log.Warn("bounce: dropped: null-sender mail is never returned, and dsn.postmaster is not set", "queue_id", m.ID, "recipients", addrs(failed))
		return nil
	}
	n.log.Warn("bounce: null-sender mail failed; reporting to the postmaster", "queue_id", m.ID, "recipients", addrs(failed), "postmaster", pm)
	rep := n.report(dsn.Failure, r, pm, failed)
	rep.ToPostmaster, rep.Return = true, dsn.ReturnHeaders
	return n.send(ctx, m, rep)
}

// failureReturn applies RET, and without it the size cap.
func (n *Notifier) failureReturn(m *queue.Message, body []byte) (dsn.Return, string) {
	switch strings.ToUpper(m.DSN.Ret) {
	case "HDRS":
		return dsn.ReturnHeaders, ""
	case "FULL":
		return dsn.ReturnFull, ""
	}
	if int64(len(body)) > n.cfg.MaxOriginalBytes {
		return dsn.ReturnHeaders, fmt.Sprintf("The message is larger than %d bytes, so only its headers are attached.", n.cfg.MaxOriginalBytes)
	}
	return dsn.ReturnFull, ""
}

// success reports recipients relayed to servers without DSN.
func (n *Notifier) success(ctx context.Context, r queue.Round) {
	m := r.Message
	if m.From == "" {
		return
	}
	var rcpts []dsn.Recipient
	for _, res := range r.Results {
		p := m.Recipients[res.Index].RecipientParams
		if res.State != queue.Delivered || res.RemoteDSN || !wants(p, "SUCCESS") {
			continue
		}
		rcpts = append(rcpts, dsn.Recipient{Addr: p.Addr, ORCPT: p.ORCPT, Action: dsn.Relayed, Status: res.Status,
			RemoteMTA: res.RemoteMTA, Response: res.Response, LastAttempt: res.Attempted})
	}
	if len(rcpts) == 0 {
		return
	}
	rep := n.report(dsn.Success, r, m.From, rcpts)
	rep.Return = dsn.ReturnHeaders
	if err := n.send(ctx, m, rep); err != nil {
		n.log.Error("bounce: success notice lost", "queue_id", m.ID, "recipients", addrs(rcpts), "err", err)
	}
}

// delay sends the message's one delay notice once it is due, and reports
// whether it did. It waits for a round's last part, which sees the state
// of every recipient after the round.
func (n *Notifier) delay(ctx context.Context, r queue.Round) bool {
	m := r.Message
	if r.Partial || m.From == "" || m.DelayNotified || n.cfg.DelayNoticeAfter <= 0 || r.Time.Sub(m.Arrival) < n.cfg.DelayNoticeAfter {
		return false
	}
	var until time.Time
	if n.cfg.MaxLifetime > 0 {
		until = m.Arrival.Add(n.cfg.MaxLifetime)
	}
	var rcpts []dsn.Recipient
	for _, rc := range afterRound(r) {
		if rc.State != queue.Pending || !wants(rc.RecipientParams, "DELAY") {
			continue
		}
		rcpts = append(rcpts, dsn.Recipient{Addr: rc.Addr, ORCPT: rc.ORCPT, Action: dsn.Delayed, Status: rc.Status,
			RemoteMTA: rc.RemoteMTA, Response: rc.LastResponse, LastAttempt: rc.LastAttempt, WillRetryUntil: until})
	}
	if len(rcpts) == 0 {
		return false
	}
	rep := n.report(dsn.Delay, r, m.From, rcpts)
	rep.Return = dsn.ReturnHeaders
	if err := n.send(ctx, m, rep); err != nil {
		n.log.Error("bounce: cannot queue the delay notice; will try next round", "queue_id", m.ID, "err", err)
		return false
	}
	return true
}

// afterRound is every recipient's state once the round's results apply.
func afterRound(r queue.Round) []queue.Recipient {
	out := append([]queue.Recipient(nil), r.Message.Recipients...)
	for _, res := range r.Results {
		rc := &out[res.Index]
		rc.State, rc.Status, rc.RemoteMTA, rc.LastResponse, rc.LastAttempt = res.State, res.Status, res.RemoteMTA, res.Response, res.Attempted
	}
	return out
}

// report starts a report about r's message to to.
func (n *Notifier) report(kind dsn.Kind, r queue.Round, to string, rcpts []dsn.Recipient) *dsn.Report {
	m := r.Message
	now := n.now()
	return &dsn.Report{
		Kind: kind, ReportingMTA: n.cfg.Hostname, To: to,
		MessageID: string(queue.NewID(now)) + "@" + n.cfg.Hostname, Date: now,
		QueueID: string(m.ID), EnvelopeID: m.DSN.EnvID, Arrival: m.Arrival,
		Recipients: rcpts, Original: r.Body,
	}
}

// send queues rep from the null sender under the queue ID in its
// Message-ID. A report that cannot be built is logged and dropped, since
// retrying would not fix it; only a queue error is returned.
func (n *Notifier) send(ctx context.Context, m *queue.Message, rep *dsn.Report) error {
	body, err := rep.Bytes()
	if err != nil {
		n.log.Error("bounce: dropped: cannot build the report", "queue_id", m.ID, "type", rep.Kind, "err", err)
		return nil
	}
	id, _, _ := strings.Cut(rep.MessageID, "@")
	env := queue.Envelope{
		From:   "", // RFC 3461 §6.1: reports have the null sender, so they never loop
		To:     []queue.RecipientParams{{Addr: rep.To}},
		UTF8:   rep.NeedsSMTPUTF8(),
		Client: "bounce for " + string(m.ID),
	}
	got, err := n.q.Enqueue(ctx, queue.ID(id), env, n.sign(queue.ID(id), body))
	if err != nil {
		return fmt.Errorf("queue the %s report about %s: %w", rep.Kind, m.ID, err)
	}
	n.log.Info("bounce queued", "queue_id", m.ID, "bounce_id", got, "type", rep.Kind, "to", rep.To,
		"recipients", len(rep.Recipients), "size", len(body))
	n.cfg.Metrics.BouncesSent.WithLabelValues(string(rep.Kind)).Inc()
	return nil
}

// sign signs a report with the hostname's key. A report that cannot be
// signed is queued unsigned: the sender learning of the failure matters
// more than the signature.
func (n *Notifier) sign(id queue.ID, body []byte) []byte {
	if n.cfg.Signer == nil {
		return body
	}
	signed, err := n.cfg.Signer.SignDomain(n.cfg.Hostname, body)
	if err != nil {
		n.log.Warn("dkim: bounce queued unsigned", "queue_id", id, "err", err)
		return body
	}
	return signed
}

// wants reports whether a recipient's NOTIFY asks for event (FAILURE,
// DELAY or SUCCESS). Without NOTIFY only failures are reported, one of
// the two defaults RFC 3461 §4.1 allows; NEVER asks for nothing.
func wants(p queue.RecipientParams, event string) bool {
	if len(p.Notify) == 0 {
		return event == "FAILURE"
	}
	for _, v := range p.Notify {
		if strings.EqualFold(v, event) {
			return true
		}
	}
	return false
}

func addrs(rcpts []dsn.Recipient) string {
	out := make([]string, len(rcpts))
	for i, rc := range rcpts {
		out[i] = rc.Addr
	}
	return strings.Join(out, ",")
}
