// Package api is mxout's HTTP front for applications: POST /v1/send takes
// a message as JSON (built from fields, or raw RFC 5322) and answers 202
// once the queue has synced it, the promise of SMTP's 250; GET /v1/events
// is the pull feed of the delivery events of the caller's own messages.
//
// Callers authenticate with "Authorization: Bearer <token>"; the relay
// knows each token only by its SHA-256 (configs api.keys) and compares
// hashes in constant time. Every request is bounded: the body, the JSON's
// depth and counts, each field, the requests in flight and the bytes they
// may hold. Errors are JSON, {"error": "...", "field": "..."}, with the
// statuses docs/quickstart-apps.md lists.
//
// What a message must pass before it is queued (size, senders, DKIM) is
// SMTP submission's business, reached through the Queue interface, so
// that both fronts apply one set of rules.
package api
