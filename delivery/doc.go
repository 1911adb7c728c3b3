// Package delivery takes due messages off the queue and delivers them to
// the recipients' mail exchangers over SMTP.
//
// An Engine runs one scheduler loop and a bounded pool of workers. The loop
// leases due messages from the queue (a range scan of its due index) and
// hands each to a worker, which groups the due recipients by domain, walks
// the domain's MX hosts and their addresses in RFC 5321 §5.1 order, and
// runs one SMTP transaction per domain.
//
// Results are per recipient and classified in one place (classify.go):
// a 2xx is delivered; a 5xx reply, a null MX (5.1.10) or a non-existent
// domain (5.4.4) fails the recipient for good; everything else (4xx,
// timeouts, refused connections, TLS and DNS trouble, unknown errors) is
// temporary and retried with exponential backoff until the recipient has
// been queued for delivery.retry.max_lifetime, when it fails with its last
// error. Each round is handed to a Notifier (bounces, delay and success
// notices) before its results are recorded, so a notice is never lost to
// a crash; a failure whose notice cannot be queued stays pending.
//
// Per destination (a domain, or the smarthost) the engine bounds the open
// connections, idle ones included (pool.go); keeps sessions open for the
// next message to the same host and checks them with RSET before reuse,
// replacing a dead one without counting an attempt; spaces transactions
// by a configured rate, postponing recipients to their turn (rate.go);
// and suspends a destination that keeps failing as a whole, deferring its
// mail without connecting until a hold time has passed (dead.go). Every
// step of a session has its own RFC 5321 §4.5.3.2 timeout.
//
// The engine never connects to an MX-derived address that is not global
// unicast (loopback, private, link-local, ... by the IANA special-purpose
// registries) unless Config.AllowedNetworks covers it, nor to its own
// submission listeners (mail loops): such addresses are skipped, and a
// destination with nothing else fails with 5.4.6.
package delivery
