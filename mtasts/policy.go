package mtasts

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mxout/mxout/internal/dnsname"
)

// Mode is what a policy asks of senders.
type Mode string

// The modes of RFC 8461 §5.
const (
	// Enforce: deliver only to matching MX hosts, over TLS with a
	// certificate valid for the host name.
	Enforce Mode = "enforce"
	// Testing: deliver as without a policy, and report failures.
	Testing Mode = "testing"
	// None: the domain has withdrawn its policy.
	None Mode = "none"
)

// Limits of a policy file.
const (
	// MaxPolicyBytes is the largest policy fetched (RFC 8461 §3.3: 64 KB).
	MaxPolicyBytes = 64 << 10
	// MaxAge caps max_age at a year (RFC 8461 §3.2: 31557600 seconds).
	MaxAge = 31557600 * time.Second
	// maxMX bounds the mx patterns kept per policy: a policy is cached per
	// recipient domain, and a domain's owner picks how many it lists.
	maxMX = 100
)

// ErrPolicyInvalid means the policy file does not follow RFC 8461 §3.2.
var ErrPolicyInvalid = errors.New("invalid MTA-STS policy")

// Policy is a parsed policy file.
type Policy struct {
	Mode Mode
	// MX are the allowed MX host patterns: "mx.example.com" or
	// "*.example.com" (one leftmost label), lowercase.
	MX     []string
	MaxAge time.Duration
}

// ParsePolicy parses a policy file: "key: value" lines ended by CRLF or
// LF. version (STSv1), mode and max_age are required, and at least one mx
// unless the mode is none. Unknown keys are ignored, as the RFC asks; a
// known key given twice (other than mx) makes the policy invalid.
func ParsePolicy(b []byte) (*Policy, error) {
	if len(b) > MaxPolicyBytes {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrPolicyInvalid, len(b), MaxPolicyBytes)
	}
	p := &Policy{}
	seen := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if strings.TrimRight(line, " \t") == "" {
			continue
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok || !isFieldName(key) {
			return nil, fmt.Errorf("%w: line %q is not key: value", ErrPolicyInvalid, clip(line))
		}
		value = strings.Trim(value, " \t")
		if key != "mx" {
			if seen[key] && isKnown(key) {
				return nil, fmt.Errorf("%w: %s given twice", ErrPolicyInvalid, key)
			}
			seen[key] = true
		}
		if err := p.set(key, value); err != nil {
			return nil, err
		}
	}
	switch {
	case !seen["version"]:
		return nil, fmt.Errorf("%w: no version", ErrPolicyInvalid)
	case p.Mode == "":
		return nil, fmt.Errorf("%w: no mode", ErrPolicyInvalid)
	case !seen["max_age"]:
		return nil, fmt.Errorf("%w: no max_age", ErrPolicyInvalid)
	case len(p.MX) == 0 && p.Mode != None:
		return nil, fmt.Errorf("%w: no mx", ErrPolicyInvalid)
	}
	return p, nil
}

func isKnown(key string) bool {
	return key == "version" || key == "mode" || key == "max_age"
}

func (p *Policy) set(key, value string) error {
	switch key {
	case "version":
		if value != "STSv1" {
			return fmt.Errorf("%w: version %q, want STSv1", ErrPolicyInvalid, clip(value))
		}
	case "mode":
		switch m := Mode(value); m {
		case Enforce, Testing, None:
			p.Mode = m
		default:
			return fmt.Errorf("%w: mode %q", ErrPolicyInvalid, clip(value))
		}
	case "max_age":
		if value == "" || len(value) > 10 || strings.Trim(value, "0123456789") != "" {
			return fmt.Errorf("%w: max_age %q is not 1-10 digits", ErrPolicyInvalid, clip(value))
		}
		n, _ := strconv.ParseInt(value, 10, 64) // at most 10 digits: no overflow
		p.MaxAge = time.Duration(min(n, int64(MaxAge/time.Second))) * time.Second
	case "mx":
		pat := strings.ToLower(strings.TrimSuffix(value, "."))
		if !validPattern(pat) {
			return fmt.Errorf("%w: mx %q is not a host name or *.domain", ErrPolicyInvalid, clip(value))
		}
		if len(p.MX) >= maxMX {
			return fmt.Errorf("%w: more than %d mx patterns", ErrPolicyInvalid, maxMX)
		}
		p.MX = append(p.MX, pat)
	}
	return nil
}

// validPattern accepts a host name, optionally behind "*.".
func validPattern(pat string) bool { return dnsname.Valid(strings.TrimPrefix(pat, "*.")) }

// Lines is the policy in its canonical text form, one field a line, as a
// TLS report's policy-string gives it (RFC 8460 §4.4).
func (p *Policy) Lines() []string {
	lines := []string{"version: STSv1", "mode: " + string(p.Mode)}
	for _, mx := range p.MX {
		lines = append(lines, "mx: "+mx)
	}
	return append(lines, fmt.Sprintf("max_age: %d", int64(p.MaxAge/time.Second)))
}

// String is Lines joined by CRLF, a policy file ParsePolicy reads back.
func (p *Policy) String() string { return strings.Join(p.Lines(), "\r\n") + "\r\n" }

// Matches reports whether host is allowed by one of the policy's mx
// patterns (RFC 8461 §4.1): equal, or "*.d" and host is one label under
// d. Case and a final dot are ignored.
func (p *Policy) Matches(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, pat := range p.MX {
		if MatchMX(pat, host) {
			return true
		}
	}
	return false
}

// MatchMX reports whether a lowercase host matches one lowercase pattern.
func MatchMX(pattern, host string) bool {
	if base, ok := strings.CutPrefix(pattern, "*."); ok {
		label, rest, ok := strings.Cut(host, ".")
		return ok && label != "" && rest == base
	}
	return host == pattern
}
