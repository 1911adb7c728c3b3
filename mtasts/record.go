package mtasts

import (
	"errors"
	"fmt"

	"github.com/mxout/mxout/internal/mailtext"
	"github.com/mxout/mxout/internal/tagvalue"
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

// format is the _mta-sts record's version and errors.
var format = tagvalue.Format{Version: "STSv1", NoRecord: ErrNoRecord, Invalid: ErrRecordInvalid}

// ParseRecord parses one TXT record: "v=STSv1; id=<id>;" and optional
// extension fields, which are ignored.
func ParseRecord(txt string) (Record, error) {
	tags, err := format.Fields(txt)
	if err != nil {
		return Record{}, err
	}
	var rec Record
	for _, t := range tags {
		if !isFieldName(t.Name) || !isFieldValue(t.Value) {
			return Record{}, fmt.Errorf("%w: field %q=%q", ErrRecordInvalid, clip(t.Name), clip(t.Value))
		}
		if t.Name != "id" {
			continue
		}
		if rec.ID != "" {
			return Record{}, fmt.Errorf("%w: two id fields", ErrRecordInvalid)
		}
		if !isID(t.Value) {
			return Record{}, fmt.Errorf("%w: id %q is not 1-32 letters and digits", ErrRecordInvalid, clip(t.Value))
		}
		rec.ID = t.Value
	}
	if rec.ID == "" {
		return Record{}, fmt.Errorf("%w: no id", ErrRecordInvalid)
	}
	return rec, nil
}

// PickRecord chooses the record among a name's TXT strings: those that do
// not start with "v=STSv1;" (spaces allowed before the ';') are discarded,
// and exactly one must remain (RFC 8461 §3.1).
func PickRecord(txts []string) (Record, error) {
	rec, err := format.Pick(txts)
	if err != nil {
		return Record{}, err
	}
	return ParseRecord(rec)
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

// clip bounds a peer's text quoted in an error (to 67 bytes).
func clip(s string) string { return mailtext.Clip(s, 67, "...") }
