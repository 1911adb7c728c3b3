package dkim

import (
	"net/mail"
	"strings"

	"golang.org/x/net/idna"

	"github.com/mxout/mxout/internal/header"
)

// maxFromBytes bounds the unfolded From: field examined: a real one is a
// few hundred octets, and the parse must stay cheap on hostile input.
const maxFromBytes = 8 << 10

// headerInfo is what signing needs from a message's header section.
type headerInfo struct {
	// From is the unfolded value of the first From: field, "" if none.
	From string
	// Terminated is false when no empty line ends the header section:
	// the message is all header, and a separator must be added before
	// signing (a DKIM verifier reads up to the empty line).
	Terminated bool
	// StartsFolded is true when the first line is a continuation line
	// (starts with a space or tab): there is no field for it to continue,
	// and verifiers disagree on how to read such a header.
	StartsFolded bool
}

// scanHeader reads msg's header section (package header).
func scanHeader(msg []byte) headerInfo {
	h := headerInfo{StartsFolded: len(msg) > 0 && (msg[0] == ' ' || msg[0] == '\t')}
	_, _, h.Terminated = header.Split(msg)
	if v, ok := header.First(msg, "From"); ok {
		h.From = header.Unfold(v[:min(len(v), maxFromBytes)])
	}
	return h
}

// fromDomain returns the domain of the first address in a From: field
// value, normalised by normalizeDomain, or "" when there is none.
func fromDomain(value string) string {
	if value == "" {
		return ""
	}
	if list, err := mail.ParseAddressList(value); err == nil && len(list) > 0 {
		return addressDomain(list[0].Address)
	}
	return addressDomain(looseAddress(value))
}

// looseAddress finds the address in a field value net/mail refuses (an
// unknown charset in the display name, stray characters): the first
// <...> group, else the first white-space separated word holding an '@'.
func looseAddress(value string) string {
	if i := strings.IndexByte(value, '<'); i >= 0 {
		if j := strings.IndexByte(value[i:], '>'); j > 0 {
			return value[i+1 : i+j]
		}
	}
	for _, w := range strings.FieldsFunc(value, func(r rune) bool { return r == ' ' || r == '\t' || r == ',' }) {
		if strings.Contains(w, "@") {
			return strings.Trim(w, "<>()\"")
		}
	}
	return ""
}

// addressDomain returns the normalised domain of an address (after the
// last '@'), or "" when it has none that is a valid domain name.
func addressDomain(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return ""
	}
	return NormalizeDomain(addr[at+1:])
}

// NormalizeDomain returns a domain name as keys are looked up: lowercase
// ASCII without the trailing dot, U-labels converted to A-labels; "" when
// s is not a valid domain name (labels of letters, digits, '-' and '_').
// Address literals ([192.0.2.1]) have no key.
func NormalizeDomain(s string) string {
	s = strings.TrimSuffix(strings.TrimSpace(s), ".")
	if s == "" || len(s) > 253 {
		return ""
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			a, err := idna.Lookup.ToASCII(s)
			if err != nil {
				return ""
			}
			s = a
			break
		}
	}
	s = strings.ToLower(s)
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return ""
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return ""
			}
		}
	}
	return s
}
