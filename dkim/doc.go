// Package dkim signs outgoing mail with DKIM (RFC 6376) and manages the
// keys: it loads them, generates new ones, formats and parses the DNS key
// record, and checks that a published record matches a configured key.
//
// # Signing
//
// A Signer holds the keys of every signing domain. Sign picks the domain
// from the message's From: header (the first address of the first From:
// field), falling back to the envelope sender's domain when the header has
// none; domains compare case-insensitively, IDNs as A-labels. A domain
// with keys gets one DKIM-Signature field per key, prepended to the
// message, all with relaxed/relaxed canonicalisation over the domain's
// header list (a name listed twice is over-signed). The signatures are
// computed with github.com/emersion/go-msgauth/dkim.
//
// A domain without a key passes unsigned, unless Config.Require is set:
// then Sign returns a *NoKeyError, whose Permanent method reports true (the
// submitter should refuse the message with 550 5.7.1). Any other error is
// a local fault of a configured domain and never permanent. SignDomain
// signs with a named domain's keys and never refuses: it is for mail the
// relay writes itself, such as bounces signed with the hostname's key.
//
// # Keys
//
// Key files are PEM: PKCS#8 "PRIVATE KEY" (RSA or Ed25519, as GenerateKey
// and MarshalPrivateKey write them) or PKCS#1 "RSA PRIVATE KEY" (as
// opendkim-genkey writes them). RSA keys must have at least 1024 bits
// (RFC 8301). New fails, naming the domain, selector and file, when a key
// cannot be loaded; Reload loads a whole new set and, on any failure,
// keeps the keys in use. A Signer is safe for concurrent use, and Reload
// may run while messages are being signed.
package dkim
