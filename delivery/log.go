package delivery

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/mxout/mxout/queue"
)

// attemptInfo is what one delivery attempt's log lines report.
type attemptInfo struct {
	host, addr, tls       string
	policy                string // the TLS policy: tls_policy=
	start, connected, end time.Time
	// uses is the transaction's number on its connection (1: a new one),
	// like Postfix's conn_use; 0 without a connection.
	uses int
}

// logOutcomes writes one line per recipient, like Postfix's smtp log:
// queue ID first, then to, relay, delays, dsn, status and the reply. The
// remote reply that decided each outcome is counted here too, so that
// mxout_remote_replies_total and the log lines cannot drift apart.
func (e *Engine) logOutcomes(m *queue.Message, idxs []int, outs map[int]Outcome, info attemptInfo) {
	now := e.now()
	relay := "none"
	if info.addr != "" {
		relay = fmt.Sprintf("%s[%s]", info.host, info.addr)
	}
	for _, i := range idxs {
		o, ok := outs[i]
		if !ok {
			continue
		}
		e.m.RemoteReply(o.Code, queue.Domain(m.Recipients[i].Addr))
		level := slog.LevelInfo
		if o.State == queue.Pending {
			level = slog.LevelWarn
		}
		e.log.LogAttrs(e.workCtx, level, "delivery attempt",
			slog.String("queue_id", string(m.ID)),
			slog.String("to", m.Recipients[i].Addr),
			slog.String("relay", relay),
			slog.String("tls", info.tlsOrNone()),
			slog.String("tls_policy", info.policy),
			slog.String("delay", seconds(now.Sub(m.Arrival))),
			slog.String("delays", info.delays(m.Arrival)),
			slog.Int("conn_use", info.uses),
			slog.Int("code", o.Code),
			slog.String("dsn", o.Status),
			slog.String("status", statusWord(o.State)),
			slog.String("response", o.Response),
		)
	}
}

// logExpired writes the line that ends a recipient whose lifetime ran out
// at its last temporary failure (its attempt line says "deferred"), like
// Postfix's "status=expired, returned to sender".
func (e *Engine) logExpired(m *queue.Message, i int, r queue.Result, now time.Time) {
	e.log.LogAttrs(e.workCtx, slog.LevelWarn, "delivery expired",
		slog.String("queue_id", string(m.ID)),
		slog.String("to", m.Recipients[i].Addr),
		slog.String("delay", seconds(now.Sub(m.Arrival))),
		slog.Int("attempts", m.Recipients[i].Attempts+1),
		slog.String("dsn", r.Status),
		slog.String("status", "expired"),
		slog.String("response", r.Response),
	)
}

// tlsOrNone is the session's TLS for the log line; "none" in plaintext
// or without a session.
func (a attemptInfo) tlsOrNone() string {
	if a.tls == "" {
		return "none"
	}
	return a.tls
}

// delays is "queued/connect/transaction" in seconds, like Postfix's
// delays=a/b/c/d without its in-process split.
func (a attemptInfo) delays(arrival time.Time) string {
	if a.start.IsZero() {
		return "-"
	}
	return seconds(a.start.Sub(arrival)) + "/" + seconds(a.connected.Sub(a.start)) + "/" + seconds(a.end.Sub(a.connected))
}

func seconds(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	return fmt.Sprintf("%.2f", d.Seconds())
}

func statusWord(s queue.State) string {
	switch s {
	case queue.Delivered:
		return "sent"
	case queue.Failed:
		return "bounced"
	default:
		return "deferred"
	}
}
