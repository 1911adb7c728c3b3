package configs

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mxout/mxout/dkim"
	"github.com/mxout/mxout/internal/dnsname"
	"github.com/mxout/mxout/internal/header"
)

func (d *DKIM) validate(v *validator) {
	v.check(!d.Require || len(d.Domains) > 0, "dkim.require", d.Require, "needs at least one dkim.domains entry, or every message is refused")
	validHeaders(v, "dkim.headers", d.Headers, false)
	domains := make([]string, 0, len(d.Domains))
	for name := range d.Domains {
		domains = append(domains, name)
	}
	slices.Sort(domains) // one error order, whatever the map order
	for _, name := range domains {
		dom := d.Domains[name]
		key := "dkim.domains." + name
		v.check(IsDNSName(name), key, name, "must be a domain name (IDNs as A-labels)")
		validHeaders(v, key+".headers", dom.Headers, true)
		if dom.Selector != "" || dom.PrivateKeyFile != "" {
			validDKIMKey(v, key, DKIMKey{Selector: dom.Selector, PrivateKeyFile: dom.PrivateKeyFile, Algorithm: dom.Algorithm})
		} else {
			v.check(dom.Algorithm == "", key+".algorithm", dom.Algorithm, "is set but selector and private_key_file are not")
		}
		for i, k := range dom.Keys {
			validDKIMKey(v, fmt.Sprintf("%s.keys[%d]", key, i), k)
		}
		all := dom.AllKeys()
		v.check(len(all) > 0, key, name, "needs a key: selector and private_key_file, or keys[]")
		seen := map[string]bool{}
		for _, k := range all {
			sel := strings.ToLower(k.Selector)
			v.check(sel == "" || !seen[sel], key, k.Selector, "lists a selector twice")
			seen[sel] = true
		}
	}
}

func validDKIMKey(v *validator, key string, k DKIMKey) {
	v.check(IsDNSName(k.Selector), key+".selector", k.Selector, "must be a DNS name (letters, digits, '-', '_', dots)")
	v.check(k.PrivateKeyFile != "", key+".private_key_file", k.PrivateKeyFile, "must name a PEM file (make one with `mxout dkim keygen`)")
	if k.Algorithm != "" {
		v.oneOf(key+".algorithm", k.Algorithm, dkim.AlgorithmRSA, dkim.AlgorithmEd25519)
	}
}

// validHeaders checks a list of header field names to sign; From must be
// among them (RFC 6376 5.4). An empty list is allowed where it means
// "inherit".
func validHeaders(v *validator, key string, names []string, mayBeEmpty bool) {
	if len(names) == 0 {
		v.check(mayBeEmpty, key, names, "must not be empty")
		return
	}
	hasFrom := false
	for i, n := range names {
		v.check(header.IsFieldName(n), fmt.Sprintf("%s[%d]", key, i), n, "must be a header field name")
		hasFrom = hasFrom || strings.EqualFold(n, "From")
	}
	v.check(hasFrom, key, names, "must include From (RFC 6376 5.4)")
}

// IsDNSName reports whether s is a domain name as the config accepts it,
// in ASCII: dot-separated labels of letters, digits, '-' and '_', each
// 1-63 octets, with an optional final dot. mxout import checks names with
// it, so that what it writes loads.
func IsDNSName(s string) bool { return dnsname.Valid(strings.TrimSuffix(s, ".")) }
