// Package events is the model of delivery events: one per-recipient
// outcome (delivered, deferred, delayed, bounced, expired) as applications
// see it in webhooks and the GET /v1/events feed, and as the queue stores
// it, with the API key or SMTP user that sent the message.
//
// The queue keeps events as opaque records in commit order (queue.EventRecord);
// this package says what is inside them.
package events
