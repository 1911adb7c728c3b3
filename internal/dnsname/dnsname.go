// Package dnsname checks host names written in ASCII, as mxout's config
// and MTA-STS policies carry them.
package dnsname

import "strings"

// Valid reports whether s is dot-separated labels of letters, digits, '-'
// and '_', each 1-63 octets, 253 octets at most in all, without a final
// dot. IDNs pass only as A-labels (xn--...).
func Valid(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
