// Package admin is the queue administration API: JSON over HTTP on
// admin.socket and admin.listen, used by `mxout queue` and by scripts.
//
// Endpoints (all under /v1; errors are {"error": "..."} with a status code):
//
//	GET    /v1/stats                      counts by state, bytes, oldest
//	GET    /v1/messages?state=&sender=&domain=&older_than=&after=&limit=
//	                                      one page, in arrival order; "next" is the cursor
//	GET    /v1/messages/{id}?headers=true one message, per-recipient state, optionally headers
//	POST   /v1/messages/{id}/hold         never deliver until released
//	POST   /v1/messages/{id}/release      deliverable again
//	POST   /v1/messages/{id}/retry        every pending recipient due now
//	DELETE /v1/messages/{id}?bounce=true  remove it, optionally bouncing it to the sender
//	POST   /v1/flush                      every deferred message due now
//	GET    /v1/tls/mta-sts/{domain}       the cached MTA-STS policy of domain
//
// Guarantees:
//   - A listing never loads the queue: it seeks to the cursor (the last ID
//     of the previous page) and reads at most Config.MaxScan message
//     records, never bodies, so a request costs the same on a queue of a
//     hundred or a million messages. A filter that matches little returns
//     short pages with a cursor; follow "next" until it is empty.
//   - A message that a delivery holds right now is not changed: the
//     request answers 409 and the operator tries again.
//   - A quarantined message (state=quarantined: its record was unreadable
//     and was moved aside) can be listed, shown and deleted; hold,
//     release and retry answer 409.
//   - Access (guard.go): on a unix socket (admin.socket, mode 0600)
//     everything; on TCP (admin.listen) reads only, without headers,
//     unless a bearer token is configured; with a token every request must
//     carry "Authorization: Bearer <token>" (compared in constant time) and
//     may do everything. Serve refuses a non-loopback TCP listener without
//     a token. Before that, whatever the listener: an Origin header (a web
//     page) is 403, a Host other than the address the request came in on,
//     localhost or Config.Names is 421 (DNS rebinding), and a POST or
//     DELETE body that is not application/json is 415.
//   - Deleting with a bounce holds the message first (no delivery can start
//     meanwhile), hands it to the Bouncer, and deletes it only once the
//     bounce is queued; without a Bouncer the request answers 501.
package admin
