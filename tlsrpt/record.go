package tlsrpt

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/mxout/mxout/internal/mailtext"
	"github.com/mxout/mxout/internal/tagvalue"
)

// maxRUA bounds the report addresses used per domain.
const maxRUA = 10

// Errors of record discovery.
var (
	// ErrNoRecord means the domain publishes no TLSRPT record.
	ErrNoRecord = errors.New("no TLSRPT record")
	// ErrRecordInvalid means the record is not valid (RFC 8460 §3); the
	// domain counts as having none.
	ErrRecordInvalid = errors.New("invalid TLSRPT record")
)

// Record is a domain's _smtp._tls TXT record (RFC 8460 §3).
type Record struct {
	// RUA are the report addresses, each a mailto: or https: URI.
	RUA []*url.URL
}

// format is the _smtp._tls record's version and errors.
var format = tagvalue.Format{Version: "TLSRPTv1", NoRecord: ErrNoRecord, Invalid: ErrRecordInvalid}

// PickRecord chooses the record among a name's TXT strings: those that do
// not start with "v=TLSRPTv1;" are discarded, and exactly one must remain.
func PickRecord(txts []string) (Record, error) {
	rec, err := format.Pick(txts)
	if err != nil {
		return Record{}, err
	}
	return ParseRecord(rec)
}

// ParseRecord parses "v=TLSRPTv1; rua=<uri>[,<uri>...]" with optional
// extension fields, which are ignored. URIs of schemes other than mailto
// and https are skipped; at least one usable URI must remain.
func ParseRecord(txt string) (Record, error) {
	tags, err := format.Fields(txt)
	if err != nil {
		return Record{}, err
	}
	var rec Record
	seenRUA := false
	for _, t := range tags {
		if t.Name != "rua" {
			continue
		}
		if seenRUA {
			return Record{}, fmt.Errorf("%w: two rua fields", ErrRecordInvalid)
		}
		seenRUA = true
		for _, u := range strings.Split(t.Value, ",") {
			if parsed, ok := parseRUA(strings.Trim(u, " \t")); ok && len(rec.RUA) < maxRUA {
				rec.RUA = append(rec.RUA, parsed)
			}
		}
	}
	if len(rec.RUA) == 0 {
		return Record{}, fmt.Errorf("%w: no mailto: or https: rua", ErrRecordInvalid)
	}
	return rec, nil
}

// parseRUA accepts mailto:addr@domain (one address) and https://host/...
func parseRUA(s string) (*url.URL, bool) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, false
	}
	switch strings.ToLower(u.Scheme) {
	case "mailto":
		u.Scheme = "mailto"
		addr := mailtoAddr(u)
		local, domain, ok := strings.Cut(addr, "@")
		return u, ok && local != "" && domain != "" && !strings.ContainsAny(addr, " ,<>\r\n\t\"") && strings.Count(addr, "@") == 1
	case "https":
		u.Scheme = "https"
		return u, u.Host != "" && u.User == nil
	}
	return nil, false
}

// mailtoAddr is the address of a mailto: URI, without its query.
func mailtoAddr(u *url.URL) string {
	addr := u.Opaque
	if addr == "" {
		addr = u.Path
	}
	if a, err := url.PathUnescape(addr); err == nil {
		addr = a
	}
	return addr
}

// clip bounds a string a peer chose.
func clip(s string, n int) string { return mailtext.Clip(s, n, "") }
