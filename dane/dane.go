// Package dane checks a mail server's certificate against its TLSA records
// as DANE for SMTP (RFC 7672) asks: DANE-EE(3) records match the server's
// own certificate or key, ignoring names and dates; DANE-TA(2) records
// match a trust anchor in the chain it sent, which must then issue the
// server's certificate, valid now and for one of the expected names.
// PKIX-TA(0) and PKIX-EE(1) records are not used for SMTP (§3.1.3).
//
// It checks certificates only: whether the TLSA records are authenticated
// (DNSSEC) and what to do when they do not match is the caller's policy.
package dane

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mxout/mxout/resolver"
)

// TLSA usages, selectors and matching types used by SMTP (RFC 6698 §2.1).
const (
	UsageDANETA = 2
	UsageDANEEE = 3

	SelectorCert = 0
	SelectorSPKI = 1

	MatchFull   = 0
	MatchSHA256 = 1
	MatchSHA512 = 2
)

// Usable returns the records DANE for SMTP can use: usage 2 or 3,
// selector 0 or 1, and matching type 0, 1 or 2 with data of the length it
// implies. The others are ignored (RFC 7672 §3.1.3, RFC 7671 §4).
func Usable(recs []resolver.TLSA) []resolver.TLSA {
	var out []resolver.TLSA
	for _, r := range recs {
		if (r.Usage == UsageDANETA || r.Usage == UsageDANEEE) && r.Selector <= SelectorSPKI && validData(r) {
			out = append(out, r)
		}
	}
	return out
}

func validData(r resolver.TLSA) bool {
	switch r.MatchingType {
	case MatchFull:
		return len(r.Data) > 0
	case MatchSHA256:
		return len(r.Data) == sha256.Size
	case MatchSHA512:
		return len(r.Data) == sha512.Size
	}
	return false
}

// Reason is why a certificate failed DANE.
type Reason int

// The reasons Verify gives.
const (
	// NoUsableRecords: no record is usable; the RRset is unusable as a whole.
	NoUsableRecords Reason = iota + 1
	// NoCertificate: the server sent no certificate.
	NoCertificate
	// NoMatch: no record matches the server's certificate or chain.
	NoMatch
	// NameMismatch: a DANE-TA chain verified, but not for any of the names.
	NameMismatch
	// Expired: a DANE-TA chain verified but for a certificate out of its
	// validity period.
	Expired
)

func (r Reason) String() string {
	switch r {
	case NoUsableRecords:
		return "no usable TLSA records"
	case NoCertificate:
		return "no server certificate"
	case NoMatch:
		return "no TLSA record matches the certificate"
	case NameMismatch:
		return "the certificate does not match the host name"
	case Expired:
		return "the certificate is expired or not yet valid"
	}
	return fmt.Sprintf("reason %d", int(r))
}

// Error is a failed DANE check.
type Error struct {
	Reason Reason
	Detail string // what was checked, for logs
}

func (e *Error) Error() string {
	if e.Detail == "" {
		return "DANE: " + e.Reason.String()
	}
	return "DANE: " + e.Reason.String() + ": " + e.Detail
}

// Verify checks a server's certificate chain (as sent, the server's own
// certificate first) against its TLSA records, for a server known by
// names (the MX host name, RFC 7672 §3.2.2; DANE-EE ignores them). now is
// the time DANE-TA chains are checked at. It returns nil on a match, or
// an *Error.
func Verify(recs []resolver.TLSA, chain []*x509.Certificate, names []string, now time.Time) error {
	usable := Usable(recs)
	if len(usable) == 0 {
		return &Error{Reason: NoUsableRecords, Detail: fmt.Sprintf("%d records, none with usage 2 or 3, selector 0 or 1 and matching type 0, 1 or 2", len(recs))}
	}
	if len(chain) == 0 {
		return &Error{Reason: NoCertificate}
	}
	var ta []resolver.TLSA
	for _, r := range usable {
		if r.Usage == UsageDANEEE {
			if matches(r, chain[0]) {
				return nil
			}
			continue
		}
		ta = append(ta, r)
	}
	if len(ta) == 0 {
		return &Error{Reason: NoMatch, Detail: "no DANE-EE record matches the server's certificate"}
	}
	return verifyTA(ta, chain, names, now)
}

// matches reports whether r's data matches cert under r's selector and
// matching type.
func matches(r resolver.TLSA, cert *x509.Certificate) bool {
	data := cert.Raw
	if r.Selector == SelectorSPKI {
		data = cert.RawSubjectPublicKeyInfo
	}
	switch r.MatchingType {
	case MatchSHA256:
		sum := sha256.Sum256(data)
		data = sum[:]
	case MatchSHA512:
		sum := sha512.Sum512(data)
		data = sum[:]
	}
	return bytes.Equal(data, r.Data)
}

// verifyTA looks for a trust anchor matching a DANE-TA record: a
// certificate the server sent after its own, or, for a record holding a
// whole public key (2 1 0), the key that signed one of the certificates
// sent (RFC 7671 §5.2.2 lets the server leave such an anchor out). The
// chain from the server's certificate to the anchor must then verify at
// now, and for one of names.
func verifyTA(recs []resolver.TLSA, chain []*x509.Certificate, names []string, now time.Time) error {
	anchors := x509.NewCertPool()
	found := false
	for _, c := range chain[1:] {
		for _, r := range recs {
			if matches(r, c) {
				anchors.AddCert(c)
				found = true
			}
		}
	}
	for _, r := range recs {
		if r.Selector != SelectorSPKI || r.MatchingType != MatchFull {
			continue
		}
		key, err := x509.ParsePKIXPublicKey(r.Data)
		if err != nil {
			continue
		}
		signer := &x509.Certificate{PublicKey: key}
		for _, c := range chain {
			// A certificate signed by the anchor's key stands in for the
			// anchor that was left out.
			if signer.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil {
				anchors.AddCert(c)
				found = true
			}
		}
	}
	if !found {
		return &Error{Reason: NoMatch, Detail: "no DANE-EE record matches the server's certificate, and no DANE-TA record a certificate of its chain"}
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{
		Roots: anchors, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		var inv x509.CertificateInvalidError
		if errors.As(err, &inv) && inv.Reason == x509.Expired {
			return &Error{Reason: Expired, Detail: err.Error()}
		}
		return &Error{Reason: NoMatch, Detail: "the chain does not lead to the DANE-TA trust anchor: " + err.Error()}
	}
	for _, n := range names {
		if nameMatches(chain[0], n) {
			return nil
		}
	}
	return &Error{Reason: NameMismatch, Detail: fmt.Sprintf("certificate for %s, want %s", certNames(chain[0]), strings.Join(names, " or "))}
}

// nameMatches checks a reference identifier against the certificate's DNS
// names (a wildcard only as the whole leftmost label, RFC 7672 §3.2.3),
// or its common name when it has none.
func nameMatches(cert *x509.Certificate, name string) bool {
	name = strings.TrimSuffix(name, ".")
	if len(cert.DNSNames) == 0 {
		return strings.EqualFold(cert.Subject.CommonName, name)
	}
	return cert.VerifyHostname(name) == nil
}

func certNames(cert *x509.Certificate) string {
	if len(cert.DNSNames) == 0 {
		return cert.Subject.CommonName
	}
	return strings.Join(cert.DNSNames, ", ")
}
