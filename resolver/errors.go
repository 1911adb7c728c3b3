package resolver

import (
	"errors"
	"fmt"
)

// Kind classifies a lookup failure. Only KindInvalidName, KindNXDomain and
// KindNullMX are permanent; every other kind is temporary.
type Kind int

// The kinds of lookup failure.
const (
	// KindInvalidName: the name is not a syntactically valid domain name.
	KindInvalidName Kind = iota + 1
	// KindNXDomain: the name does not exist (rcode NXDOMAIN).
	KindNXDomain
	// KindNullMX: the domain publishes a null MX and accepts no mail (RFC 7505).
	KindNullMX
	// KindNoData: the name exists but has no records of the asked types.
	KindNoData
	// KindServerFailure: every server answered SERVFAIL, REFUSED or another
	// error rcode.
	KindServerFailure
	// KindTimeout: no answer before the per-attempt timeout or the context
	// deadline.
	KindTimeout
	// KindNetwork: the query could not be sent or the answer not read,
	// including a cancelled context.
	KindNetwork
	// KindCNAME: the CNAME chain loops or is longer than 8 hops.
	KindCNAME
	// KindMalformed: the answer does not match the question or holds no
	// usable records.
	KindMalformed
)

// String describes the kind in a few words.
func (k Kind) String() string {
	switch k {
	case KindInvalidName:
		return "invalid domain name"
	case KindNXDomain:
		return "domain does not exist (NXDOMAIN)"
	case KindNullMX:
		return "domain accepts no mail (null MX, RFC 7505)"
	case KindNoData:
		return "no records of the requested type"
	case KindServerFailure:
		return "server failure"
	case KindTimeout:
		return "timeout"
	case KindNetwork:
		return "network error"
	case KindCNAME:
		return "CNAME chain loops or is too long"
	case KindMalformed:
		return "malformed answer"
	}
	return fmt.Sprintf("kind %d", int(k))
}

// Sentinels for errors.Is; the errors this package returns are always
// *Error values, which match the sentinel of their Kind.
var (
	// ErrNXDomain matches an *Error of KindNXDomain.
	ErrNXDomain = errors.New("resolver: domain does not exist")
	// ErrNullMX matches an *Error of KindNullMX.
	ErrNullMX = errors.New("resolver: domain publishes a null MX")
	// ErrInvalidName matches an *Error of KindInvalidName.
	ErrInvalidName = errors.New("resolver: invalid domain name")
)

// Error is the error returned by every lookup.
type Error struct {
	Domain string // the name that was looked up, normalised when valid
	QType  string // "MX", "A", "AAAA", "A/AAAA", "TXT" or "TLSA"
	Kind   Kind
	Err    error // the underlying cause, if any
}

// Error reports the query, the kind and the cause.
func (e *Error) Error() string {
	domain := e.Domain
	if e.Kind == KindInvalidName {
		// The name came from outside and may hold control characters.
		domain = fmt.Sprintf("%q", e.Domain)
	}
	msg := fmt.Sprintf("resolve %s %s: %s", e.QType, domain, e.Kind)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is the sentinel of e's Kind.
func (e *Error) Is(target error) bool {
	switch e.Kind {
	case KindNXDomain:
		return target == ErrNXDomain
	case KindNullMX:
		return target == ErrNullMX
	case KindInvalidName:
		return target == ErrInvalidName
	}
	return false
}

// Permanent reports whether retrying the lookup cannot succeed: the name is
// invalid, does not exist, or publishes a null MX.
func (e *Error) Permanent() bool {
	switch e.Kind {
	case KindInvalidName, KindNXDomain, KindNullMX:
		return true
	}
	return false
}

// Temporary reports whether a later retry may succeed; it is !Permanent().
func (e *Error) Temporary() bool { return !e.Permanent() }
