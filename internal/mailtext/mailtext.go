// Package mailtext has the operations on text that several parts of mxout
// apply to what goes into mail, logs and the queue: whether it is ASCII
// (which decides SMTPUTF8 and 8BITMIME), one line of it, and a bounded
// cut of text a peer chose.
package mailtext

import (
	"strings"
	"unicode/utf8"
)

// IsASCII reports whether s has no octet above 127.
func IsASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// OneLine joins the words of s with single spaces: line breaks, tabs and
// runs of spaces go.
func OneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Clip cuts s to at most n bytes, on a UTF-8 boundary, ending it with
// mark when it cut (mark counts towards n). s is returned as it is when
// it fits.
func Clip(s string, n int, mark string) string {
	if len(s) <= n {
		return s
	}
	cut := max(n-len(mark), 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}
