package submission

import (
	"errors"
	"net/netip"
	"strings"
	"unicode/utf8"
)

// Errors of checkAddress.
var (
	errAddressSyntax = errors.New("address syntax")
	errAddressUTF8   = errors.New("non-ASCII address without SMTPUTF8")
)

const (
	maxAddressLen = 254 // RFC 5321 4.5.3.1.3 path (256) minus the angle brackets
	maxLocalLen   = 64  // RFC 5321 4.5.3.1.1
	maxLabelLen   = 63  // RFC 1035 2.3.4
)

// checkAddress checks that addr, as go-smtp parsed it from MAIL or RCPT,
// has the RFC 5321 shape local@domain: a dot-string local part, a domain
// with at least two labels or an address literal, no spaces or control
// characters, at most 254 octets. Non-ASCII is allowed only when utf8 is
// set (the client gave SMTPUTF8 on MAIL), and must then be valid UTF-8.
// It returns errAddressUTF8 for an address that would be valid with
// SMTPUTF8, errAddressSyntax otherwise. The null sender is the caller's
// business.
func checkAddress(addr string, utf8Allowed bool) error {
	if addr == "" || len(addr) > maxAddressLen {
		return errAddressSyntax
	}
	ascii := true
	for i := 0; i < len(addr); i++ {
		if addr[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if !ascii && !utf8.ValidString(addr) {
		return errAddressSyntax
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return errAddressSyntax
	}
	local, domain := addr[:at], addr[at+1:]
	if !validLocal(local) || !validDomain(domain) {
		return errAddressSyntax
	}
	if !ascii && !utf8Allowed {
		return errAddressUTF8
	}
	return nil
}

// validLocal accepts a dot-string (RFC 5321 4.1.2): atoms of atext joined
// by single dots. Quoted local parts are refused: go-smtp hands them over
// unquoted, and the delivery side could not reproduce them faithfully.
func validLocal(s string) bool {
	if s == "" || len(s) > maxLocalLen {
		return false
	}
	for atom := range strings.SplitSeq(s, ".") {
		if atom == "" {
			return false
		}
		for _, r := range atom {
			if !isAtext(r) {
				return false
			}
		}
	}
	return true
}

// isAtext reports whether r is RFC 5322 atext, or non-ASCII (RFC 6532
// UTF8-non-ascii; whether it is allowed is decided by the caller).
func isAtext(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	case r >= utf8.RuneSelf:
		return r != utf8.RuneError && r > 0x9f // no C1 controls
	}
	return strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", r)
}

// validDomain accepts a host name of at least two labels, or an address
// literal [192.0.2.1] / [IPv6:2001:db8::1].
func validDomain(s string) bool {
	if strings.HasPrefix(s, "[") {
		return validAddressLiteral(s)
	}
	labels := strings.Split(s, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if !validLabel(l) {
			return false
		}
	}
	return true
}

// validLabel accepts letters, digits and inner hyphens (RFC 5321 sub-domain),
// plus non-ASCII letters for U-labels.
func validLabel(l string) bool {
	if l == "" || len(l) > maxLabelLen || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for _, r := range l {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-':
		case r >= utf8.RuneSelf && r != utf8.RuneError && r > 0x9f:
		default:
			return false
		}
	}
	return true
}

func validAddressLiteral(s string) bool {
	if len(s) < 3 || s[len(s)-1] != ']' {
		return false
	}
	inner := s[1 : len(s)-1]
	if v6, ok := cutPrefixFold(inner, "IPv6:"); ok {
		a, err := netip.ParseAddr(v6)
		return err == nil && a.Is6() && a.Zone() == ""
	}
	a, err := netip.ParseAddr(inner)
	return err == nil && a.Is4()
}

// cutPrefixFold is strings.CutPrefix, ignoring ASCII case.
func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return s, false
	}
	return s[len(prefix):], true
}
