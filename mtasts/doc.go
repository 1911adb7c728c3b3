// Package mtasts finds and caches the MTA-STS policies of recipient
// domains (RFC 8461): the _mta-sts TXT record, the policy fetched over
// HTTPS from https://mta-sts.<domain>/.well-known/mta-sts.txt, and the
// MX patterns a policy allows.
//
// Every name is resolved through mxout's own resolver, and the fetch
// connects only to addresses the delivery guard permits (internal/netguard).
// Certificates are verified against the system roots (Go honours
// SSL_CERT_FILE). The fetch follows the RFC: 200 only, no redirects, at
// most 64 KiB, within a minute, media type text/plain.
//
// Policies are cached in memory and in a Store (the queue database), so
// they survive a restart. A cached policy is used until its max_age runs
// out; it is fetched again when the TXT record's id changes. A failed
// fetch keeps the cached policy (RFC 8461 §5.1), and is not retried for
// a few minutes.
package mtasts
