package delivery

import (
	"testing"
	"time"

	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/delivery/smtptest"
)

// A backlog for a slow destination must not hold the other destinations'
// mail (head-of-line blocking): with slow.example capped at 2 connections
// and 8 workers, mail for fast.example queued behind 100 slow.example
// messages (more than a shallow scan passes over) is delivered while most
// of the backlog is still waiting, and slow.example never gets more than
// its 2 connections.
func TestDeliver_SlowBacklogDoesNotHoldOtherDestinations(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	slow := w.mx("slow.example", 10, smtptest.Options{})
	slow.SetDataDelay(100 * time.Millisecond) // 2 connections: ~20 messages/s at most
	fast := w.mx("fast.example", 10, smtptest.Options{})
	w.cfg.Workers = 8
	w.cfg.Domains = map[string]configs.DomainPolicy{"slow.example": {MaxConnections: 2}}
	const backlog = 100
	slowIDs, slowRcpts := w.enqueueEach(backlog, "slow.example")
	fastIDs, fastRcpts := w.enqueueEach(5, "fast.example")
	w.start()

	w.waitAllFinal(fastIDs, fastRcpts)
	// Without admission all 8 workers take slow.example messages in due
	// order and fast.example's turn comes only after the whole backlog.
	if got := slow.MessageCount(); got > backlog/2 {
		t.Errorf("fast.example's mail was delivered only after %d of the %d slow.example messages", got, backlog)
	}
	t.Logf("fast.example done after %d slow.example messages", slow.MessageCount())
	if got := fast.MessageCount(); got != len(fastIDs) {
		t.Errorf("fast.example got %d messages, want %d", got, len(fastIDs))
	}
	w.waitAllFinal(slowIDs, slowRcpts)
	if got := slow.MaxConcurrent(); got > 2 {
		t.Errorf("slow.example had %d concurrent connections, above its cap of 2", got)
	}
}
