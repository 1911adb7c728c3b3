package bounce

import (
	"context"
	"time"

	"github.com/mxout/mxout/queue"
)

// deletedStatus and deletedReason are what the report of an operator's
// delete says about each recipient (RFC 3463 5.0.0: permanent, no more
// specific code fits).
const (
	deletedStatus = "5.0.0"
	deletedReason = "deleted from the queue by the relay's operator; it will not be delivered"
)

// BounceDeleted reports every pending recipient of a message an operator
// deletes (`mxout queue delete --bounce`) as failed, as delivery failures
// are reported: the same report format, NOTIFY and null-sender rules. A
// recipient already delivered or failed gets nothing new. It returns why
// the report could not be queued.
func (n *Notifier) BounceDeleted(ctx context.Context, m *queue.Message, body []byte) error {
	r, ok := deletedRound(m, body, n.now())
	if !ok {
		return nil
	}
	_, err := n.Notify(ctx, r)
	return err
}

// deletedRound is the round in which every pending recipient of m failed
// at now; ok is false when none was pending.
func deletedRound(m *queue.Message, body []byte, now time.Time) (r queue.Round, ok bool) {
	r = queue.Round{Message: m, Body: body, Time: now}
	for i, rc := range m.Recipients {
		if rc.State != queue.Pending {
			continue
		}
		r.Results = append(r.Results, queue.RoundResult{Result: queue.Result{
			Index: i, State: queue.Failed, Attempted: now, Status: deletedStatus, Response: deletedReason,
		}})
	}
	return r, len(r.Results) > 0
}
