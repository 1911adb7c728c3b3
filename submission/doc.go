// Package submission is the SMTP front of mxout: it accepts mail from
// applications and hosts, decides who may relay, stamps the headers the
// relay owns, and answers 250 only after the queue has synced the message.
// docs/security.md is the threat model; this comment is the contract.
//
// # Relay permission
//
// MAIL and RCPT are allowed only to a client that has authenticated (AUTH
// PLAIN or LOGIN, offered only over TLS, or in plaintext to trusted
// clients when Config.AllowPlaintextAuthFromTrusted is set) or whose IP
// address is in Config.TrustedNetworks. Everyone else gets 530 5.7.0 at
// MAIL and at RCPT, whatever the recipient domain: the relay is never
// open.
//
// # Sender authorisation
//
// An authenticated user may use only the MAIL FROM addresses its
// AllowedSenders patterns match: "*" (any sender, the null sender <>
// included), "*@example.com" (any local part at that domain) or
// "noreply@example.com" (that address). Domains compare case-insensitively,
// local parts exactly. An empty AllowedSenders list allows only the
// username itself, when the username is an address; a username without '@'
// and no patterns may send as nobody. With Config.CheckHeaderFrom, the
// From: header must obey the same patterns. A trusted-network client that
// has not authenticated may use any sender. Server.SetUsers replaces the
// users of a running server.
//
// # Authentication failures
//
// Every failed AUTH is answered 535 5.7.8 after AuthThrottle.Delay, and
// counted per connection, per client address (IPv6: per /64) and per
// username from that address over a sliding window. The failure that
// reaches a limit closes the connection; while an address, or a username
// from that address, stays over its limit, AUTH gets 454 4.7.0 and the
// connection is closed. A right password from an address without recent
// failures is accepted: failures of a username from all addresses only
// slow its AUTH down, so strangers cannot lock a user out. Unknown
// usernames cost a bcrypt comparison too, so failures take the same time.
//
// # Limits
//
// Connections over MaxConnections (or MaxConnectionsPerIP, untrusted
// clients only) get 421 4.7.0 at connect, and so do untrusted clients
// beyond 80% of MaxConnections held by untrusted clients that have not
// authenticated. MAIL over a RateLimit gets 450 4.7.1. A connection is cut
// with 421 4.4.2 when a command line takes longer than ReadTimeout, a
// message transfer longer than DataTimeout, the whole connection longer
// than SessionTimeout, or an untrusted client has not authenticated
// within PreAuthTimeout, and with 421 4.7.0 after MaxErrors refused
// commands. go-smtp sets no limit by itself; the
// deadlines are enforced in the connection wrapper below TLS.
//
// # Replies
//
// Data returns only *smtp.SMTPError values, because go-smtp turns any other
// error into a permanent 554 and the client would bounce good mail. Local
// faults are always temporary: 452 4.3.1 when the queue cannot store the
// message (disk reserve reached, badger error), 451 4.3.0 for anything
// else. The 250 reply carries the queue ID ("250 2.0.0 Ok: queued as ID"),
// and so does the log line about the message.
//
// # Message data
//
// The body must use CRLF line endings only, in DATA and BDAT alike: a bare
// LF or bare CR gets 550 5.6.11, which closes the SMTP smuggling hole
// (<LF>.<CR><LF> read as the end of data by some next hop). One form never
// reaches the check: go-smtp's DATA reader drops the dot and the CR of
// <CRLF>.<CR> not followed by LF (docs/upstream.md), so such a message is
// stored two bytes short; it stays CRLF-clean and smuggles nothing. The relay
// prepends a Received header (with the TLS version and cipher, the user
// only with ReceivedHeaderAuth, the client address unless HideClientIP)
// and, when the header section lacks them, Message-ID and Date; the rest
// of the message is stored byte for byte.
//
// # TLS
//
// CertStore keeps the certificate behind an atomic pointer: Reload serves
// a new one from the next handshake while open connections keep theirs,
// and a failed Reload keeps the old one. TLS 1.2 is the minimum.
//
// # DKIM
//
// With a Config.Signer, the stamped message is signed before it is queued,
// so the queue holds (and delivery sends) the signed message. A message
// whose domain has no key is queued unsigned, unless the signer requires a
// key: then it gets 550 5.7.1. An authenticated user is never signed for
// with a domain its AllowedSenders do not cover ("*", or a pattern at that
// domain): the message gets 553 5.7.1, whatever CheckHeaderFrom says. A
// trusted client that has not authenticated is signed for with any
// domain. A signing failure for a domain that has a key is a local fault,
// 451 4.3.0.
package submission
