package resolver

import (
	"context"
	"strings"

	"github.com/miekg/dns"
)

// LookupTXT returns the TXT records of name, one string per record with
// the record's character-strings joined, as net.LookupTXT does (a DKIM key
// is published as several strings of at most 255 octets). A name that does
// not exist is KindNXDomain, a name without TXT records KindNoData. Every
// error is an *Error. Answers are cached like those of LookupMX.
func (r *Resolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	txts, _, err := r.LookupTXTSecure(ctx, name)
	return txts, err
}

// LookupTXTSecure is LookupTXT that also reports whether the answer is
// secure (see LookupMXSecure); for KindNXDomain and KindNoData, whether
// the absence was authenticated.
func (r *Resolver) LookupTXTSecure(ctx context.Context, name string) ([]string, bool, error) {
	n, err := normalizeName(name)
	if err != nil {
		return nil, false, &Error{Domain: name, QType: "TXT", Kind: KindInvalidName, Err: err}
	}
	a, err := r.lookup(ctx, n, dns.TypeTXT)
	if err != nil {
		return nil, false, err
	}
	if a.kind != 0 {
		return nil, a.secure, &Error{Domain: n, QType: "TXT", Kind: a.kind}
	}
	var out []string
	for _, rr := range a.rrs {
		if txt, ok := rr.(*dns.TXT); ok {
			out = append(out, strings.Join(txt.Txt, ""))
		}
	}
	if len(out) == 0 {
		return nil, a.secure, &Error{Domain: n, QType: "TXT", Kind: KindNoData}
	}
	return out, a.secure, nil
}
