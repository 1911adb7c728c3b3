package main

import (
	"context"
	"time"

	"github.com/mxout/mxout/admin"
	"github.com/mxout/mxout/delivery"
	"github.com/mxout/mxout/queue"
)

// roundNotifier is the bounce notifier as the delivery engine calls it.
type roundNotifier interface {
	Notify(ctx context.Context, r delivery.Round) (delivery.Notified, error)
}

// deletedBouncer makes `mxout queue delete --bounce` report every pending
// recipient of the deleted message as failed, through the same notifier
// as delivery failures: the same report format, NOTIFY and null-sender
// rules. A recipient already delivered or failed gets nothing new.
type deletedBouncer struct {
	n   roundNotifier
	now func() time.Time
}

var _ admin.Bouncer = deletedBouncer{}

// deletedStatus and deletedReason are what the report says about each
// recipient (RFC 3463 5.0.0: permanent, no more specific code fits).
const (
	deletedStatus = "5.0.0"
	deletedReason = "deleted from the queue by the relay's operator; it will not be delivered"
)

// BounceDeleted queues the failure report, or returns why it could not.
func (b deletedBouncer) BounceDeleted(ctx context.Context, m *queue.Message, body []byte) error {
	now := b.now()
	r := delivery.Round{Message: m, Body: body, Time: now}
	for i, rc := range m.Recipients {
		if rc.State != queue.Pending {
			continue
		}
		r.Results = append(r.Results, delivery.RoundResult{Result: queue.Result{
			Index: i, State: queue.Failed, Attempted: now, Status: deletedStatus, Response: deletedReason,
		}})
	}
	if len(r.Results) == 0 {
		return nil
	}
	_, err := b.n.Notify(ctx, r)
	return err
}
