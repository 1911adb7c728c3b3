package mtasts

import (
	"errors"
	"fmt"
	"strings"
)

// Record is a domain's _mta-sts TXT record (RFC 8461 §3.1).
type Record struct {
	// ID changes whenever the policy does: 1 to 32 letters and digits.
	ID string
}

// Errors of record discovery.
var (
	// ErrNoRecord means the domain publishes no valid MTA-STS record.
	ErrNoRecord = errors.New("no MTA-STS record")
	// ErrRecordInvalid means the record is not valid (RFC 8461 §3.1); the
	// domain counts as having none.
	ErrRecordInvalid = errors.New("invalid MTA-STS record")
)

// ParseRecord parses one TXT record: "v=STSv1; id=<id>;" and optional
// extension fields, which are ignored.
func ParseRecord(txt string) (Record, error) {
	fields, err := splitFields(txt)
	if err != nil {
		return Record{}, err
	}
	if len(fields) == 0 || fields[0] != [2]string{"v", "STSv1"} {
		return Record{}, fmt.Errorf("%w: does not start with v=STSv1", ErrRecordInvalid)
	}
	var rec Record
	for _, f := range fields[1:] {
		if f[0] != "id" {
			continue
		}
		if rec.ID != "" {
			return Record{}, fmt.Errorf("%w: two id fields", ErrRecordInvalid)
		}
		if !isID(f[1]) {
			return Record{}, fmt.Errorf("%w: id %q is not 1-32 letters and digits", ErrRecordInvalid, clip(f[1]))
		}
		rec.ID = f[1]
	}
	if rec.ID == "" {
		return Record{}, fmt.Errorf("%w: no id", ErrRecordInvalid)
	}
	return rec, nil
}

// PickRecord chooses the record among a name's TXT strings: those that do
// not start with "v=STSv1;" (spaces allowed before the ';') are discarded, and exactly one must remain
// (RFC 8461 §3.1).
func PickRecord(txts []string) (Record, error) {
	var found []string
	for _, t := range txts {
		if rest, ok := strings.CutPrefix(t, "v=STSv1"); ok {
			if rest = strings.TrimLeft(rest, " \t"); rest == "" || rest[0] == ';' {
				found = append(found, t)
			}
		}
	}
	switch len(found) {
	case 0:
		return Record{}, ErrNoRecord
	case 1:
		return ParseRecord(found[0])
	}
	return Record{}, fmt.Errorf("%w: %d records", ErrRecordInvalid, len(found))
}

// splitFields splits "k=v; k=v;" into key-value pairs: fields are
// separated by ';' with optional spaces around it, and a trailing ';' is
// allowed (the sts-text-record ABNF).
func splitFields(txt string) ([][2]string, error) {
	var out [][2]string
	parts := strings.Split(txt, ";")
	for i, p := range parts {
		p = strings.Trim(p, " \t")
		if p == "" {
			if i == len(parts)-1 && i > 0 {
				break // the optional final separator
			}
			return nil, fmt.Errorf("%w: empty field", ErrRecordInvalid)
		}
		k, v, ok := strings.Cut(p, "=")
		if !ok || !isFieldName(k) || !isFieldValue(v) {
			return nil, fmt.Errorf("%w: field %q is not name=value", ErrRecordInvalid, clip(p))
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}

// isFieldName: (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".").
func isFieldName(s string) bool {
	if s == "" || len(s) > 32 || !isAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '_' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// isFieldValue: 1*(%x21-3A / %x3C / %x3E-7E), no '=', ';', space or controls.
func isFieldValue(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == '=' || c == ';' {
			return false
		}
	}
	return true
}

func isID(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// clip bounds a peer's text quoted in an error.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
