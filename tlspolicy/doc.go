// Package tlspolicy decides how a delivery to one MX host must use TLS,
// and judges the handshake: DANE (RFC 7672) where the MX and TLSA records
// are authenticated, else the domain's MTA-STS policy (RFC 8461), else the
// configured delivery.tls of the domain or of the relay (RFC 8461 §2:
// DANE takes precedence over MTA-STS). Every failure carries the TLS
// report's name for it (RFC 8460 §4.3), and says whether it must stop the
// delivery (enforced) or only be counted (MTA-STS testing).
//
// It decides and checks; the delivery engine dials, speaks SMTP, and
// defers what a policy refuses.
package tlspolicy
