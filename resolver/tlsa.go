package resolver

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/miekg/dns"
)

// TLSA is one TLSA record (RFC 6698 §2.1): how a TLS server's certificate
// or public key is to be matched.
type TLSA struct {
	// Usage: 0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE.
	Usage uint8
	// Selector: 0 the full certificate, 1 its SubjectPublicKeyInfo.
	Selector uint8
	// MatchingType: 0 the selected data itself, 1 its SHA-256, 2 its SHA-512.
	MatchingType uint8
	// Data is the certificate association data.
	Data []byte
}

// String is the record's presentation form, "3 1 1 <hex>", as TLS reports
// and `mxout tls check` show it.
func (t TLSA) String() string {
	return fmt.Sprintf("%d %d %d %s", t.Usage, t.Selector, t.MatchingType, strings.ToUpper(hex.EncodeToString(t.Data)))
}

// LookupTLSA returns the TLSA records of a TLS service on host and port,
// the RRset _<port>._tcp.<host> (RFC 7672 §2.2.3), and whether the answer
// is secure (see LookupMXSecure). A name that does not exist or has no
// TLSA records yields no records and no error; secure then says whether
// that absence was authenticated. Every error is an *Error.
func (r *Resolver) LookupTLSA(ctx context.Context, host string, port int) ([]TLSA, bool, error) {
	if port < 1 || port > 65535 {
		return nil, false, &Error{Domain: host, QType: "TLSA", Kind: KindInvalidName, Err: fmt.Errorf("port %d out of range", port)}
	}
	base, err := normalizeName(host)
	if err != nil {
		return nil, false, &Error{Domain: host, QType: "TLSA", Kind: KindInvalidName, Err: err}
	}
	name, err := normalizeName(fmt.Sprintf("_%d._tcp.%s", port, base))
	if err != nil {
		return nil, false, &Error{Domain: host, QType: "TLSA", Kind: KindInvalidName, Err: err}
	}
	a, err := r.lookup(ctx, name, dns.TypeTLSA)
	if err != nil {
		return nil, false, err
	}
	var out []TLSA
	for _, rr := range a.rrs {
		t, ok := rr.(*dns.TLSA)
		if !ok {
			continue
		}
		data, err := hex.DecodeString(t.Certificate)
		if err != nil {
			continue // cannot come off the wire; a record we cannot read is unusable anyway
		}
		out = append(out, TLSA{Usage: t.Usage, Selector: t.Selector, MatchingType: t.MatchingType, Data: data})
	}
	return out, a.secure, nil
}
