// Package tlsrpt keeps SMTP TLS Reporting (RFC 8460) for the relay's
// outbound sessions: per policy domain, how many sessions negotiated TLS
// as the domain's policy asks and how many failed, with the failure
// details the RFC lists; and at the end of each report window, the JSON
// report, gzipped, to every address the domain's _smtp._tls TXT record
// names: a mailto: address gets a message with an application/tlsrpt+gzip
// attachment, an https: address a POST.
//
// Counts are bounded (domains, policies and failure details per domain,
// the length of every string a peer chose) and saved to a Store (the
// queue database) every minute and at Close, so that a restart loses at
// most a minute of them.
package tlsrpt
