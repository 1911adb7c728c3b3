// Package webhook posts delivery events to the endpoints the operator
// configured: {"events": [...]} in batches, signed with
// Mxout-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>.
//
// Each endpoint has its own goroutine and its own position in the queue's
// event log, stored after every acknowledged batch (any 2xx). A batch that
// fails (another status, no answer within the timeout) is tried again with
// exponential backoff until its events are older than the retention, so
// delivery is at least once and in order per endpoint, and one slow
// endpoint holds up neither the others nor mail: delivery only appends to
// the log. A new endpoint starts at the end of the log.
package webhook
