// Package tagvalue reads the "v=...; tag=value; ..." TXT records that
// MTA-STS (RFC 8461 §3.1) and SMTP TLS reporting (RFC 8460 §3) publish:
// which of a name's TXT strings is the record, and its tags.
package tagvalue

import (
	"errors"
	"fmt"
	"strings"

	"github.com/mxout/mxout/internal/mailtext"
)

// Pick returns the record among txts that starts with version ("v=STSv1")
// followed by the end or by optional spaces and ';', and how many did.
// Both RFCs discard the other strings and use the record only when
// exactly one remains.
func Pick(txts []string, version string) (record string, n int) {
	for _, t := range txts {
		rest, ok := strings.CutPrefix(t, version)
		if !ok {
			continue
		}
		if rest = strings.TrimLeft(rest, " \t"); rest == "" || rest[0] == ';' {
			record = t
			n++
		}
	}
	return record, n
}

// Tag is one tag=value of a record.
type Tag struct{ Name, Value string }

// ErrSyntax is wrapped by Split's errors.
var ErrSyntax = errors.New("not a tag=value list")

// Split cuts a record into its tags: separated by ';' with optional
// spaces or tabs around it, a final ';' allowed. Each must be name=value
// with both parts non-empty; the value is everything after the first
// '=' (a URI may hold more).
func Split(record string) ([]Tag, error) {
	parts := strings.Split(record, ";")
	tags := make([]Tag, 0, len(parts))
	for i, p := range parts {
		p = strings.Trim(p, " \t")
		if p == "" {
			if i == len(parts)-1 && i > 0 {
				break // the optional final separator
			}
			return nil, fmt.Errorf("%w: empty tag", ErrSyntax)
		}
		name, value, ok := strings.Cut(p, "=")
		if !ok || name == "" || value == "" {
			return nil, fmt.Errorf("%w: %q is not name=value", ErrSyntax, clip(p))
		}
		tags = append(tags, Tag{Name: name, Value: value})
	}
	return tags, nil
}

// Format is one kind of record, named by its version tag, with the
// errors its package reports: both RFCs treat a name with no record, or
// with a record that breaks a rule, as one publishing none.
type Format struct {
	// Version is the value of the leading v= tag ("STSv1").
	Version string
	// NoRecord is what Pick returns when no TXT string is the record.
	NoRecord error
	// Invalid is wrapped by every other error of Pick and Fields.
	Invalid error
}

// Pick returns the one record among txts: f.NoRecord when none starts
// with v=f.Version, f.Invalid when several do.
func (f Format) Pick(txts []string) (string, error) {
	switch rec, n := Pick(txts, "v="+f.Version); n {
	case 0:
		return "", f.NoRecord
	case 1:
		return rec, nil
	default:
		return "", fmt.Errorf("%w: %d records", f.Invalid, n)
	}
}

// Fields splits record and returns the tags after its leading
// v=f.Version; its errors wrap f.Invalid.
func (f Format) Fields(record string) ([]Tag, error) {
	tags, err := Split(record)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", f.Invalid, err)
	}
	if len(tags) == 0 || tags[0] != (Tag{Name: "v", Value: f.Version}) {
		return nil, fmt.Errorf("%w: does not start with v=%s", f.Invalid, f.Version)
	}
	return tags[1:], nil
}

// clip bounds text from DNS quoted in an error (to 67 bytes).
func clip(s string) string { return mailtext.Clip(s, 67, "...") }
