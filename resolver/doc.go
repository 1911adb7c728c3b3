// Package resolver finds where mail for a domain goes: MX records in
// RFC 5321 §5.1 order and the A/AAAA addresses of each exchanger. It also
// answers TXT lookups (DKIM keys, MTA-STS and TLS reporting records) and
// TLSA lookups (DANE).
//
// With Config.DNSSEC on, queries carry the DO bit and the ...Secure
// lookups and LookupTLSA tell whether an answer is secure: the configured
// servers set the AD bit on it. The resolver validates nothing itself; it
// must be pointed at a validating server it can trust, such as a local
// unbound. Off, no answer is secure, whatever the servers say.
//
// It talks to the configured recursive servers with miekg/dns (UDP with
// EDNS0, TCP when an answer is truncated), follows CNAME chains, and caches
// answers for their TTL. Every failure is an *Error whose Kind decides what
// the caller does with it:
//
//   - Permanent (retrying cannot help, so the mail bounces): the name is not
//     a valid domain name (KindInvalidName), the name does not exist
//     (KindNXDomain, errors.Is ErrNXDomain) or the domain publishes a null MX
//     (RFC 7505, KindNullMX, errors.Is ErrNullMX).
//   - Temporary (the caller retries later): everything else — SERVFAIL or
//     another error rcode from every server, timeouts, network errors, a
//     truncated answer that TCP could not complete, a CNAME loop, an unusable
//     answer, and a host that exists but has no address records.
//
// A domain that exists but has no MX records yields one implicit MX: the
// domain itself at preference 0. MX lists are sorted by preference, and
// hosts of equal preference are shuffled on every call, cached or not.
//
// Positive answers are cached for the smallest TTL in the answer (CNAMEs
// included), NXDOMAIN and NODATA for the SOA minimum (RFC 2308) or 60s when
// the server sent no SOA, both capped at one hour. Temporary failures are
// never cached. A Resolver is safe for concurrent use and the package keeps
// no global state.
package resolver
