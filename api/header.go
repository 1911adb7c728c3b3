package api

import (
	"bytes"
	"fmt"
	"net/mail"
	"strings"

	"github.com/mxout/mxout/internal/mailtext"
)

// maxLine is the header line length the writer folds at: RFC 2047 2
// limits a line with encoded words to 76 characters (RFC 5322 2.1.1
// recommends 78 for all).
const maxLine = 76

// maxWord bounds one encoded word, so that "Subject: " and a word fit on
// the first line.
const maxWord = 66

// headerWriter writes header fields, folded, with RFC 2047 encoded words
// where the value is not plain ASCII.
type headerWriter struct {
	buf *bytes.Buffer
}

// raw writes a field whose value the relay made (already ASCII, short).
func (h *headerWriter) raw(name, value string) {
	h.fold(name, strings.Fields(value))
}

// text writes an unstructured field (RFC 5322 3.6.5, 2047 5.1): ASCII
// words stay as they are, anything else is encoded whole.
func (h *headerWriter) text(name, value string) {
	words := strings.Fields(value)
	if needsEncoding(words) {
		words = encodeWords(value)
	}
	h.fold(name, words)
}

// addresses writes an address list; nothing when it is empty.
func (h *headerWriter) addresses(name string, list []*mail.Address) {
	var words []string
	for i, a := range list {
		var w []string
		switch {
		case a.Name == "":
			w = []string{a.Address}
		case needsEncoding(strings.Fields(a.Name)):
			w = append(encodeWords(a.Name), "<"+a.Address+">")
		default:
			w = strings.Fields(a.String()) // quotes the name where needed
		}
		if i < len(list)-1 {
			w[len(w)-1] += ","
		}
		words = append(words, w...)
	}
	if len(words) > 0 {
		h.fold(name, words)
	}
}

// fold writes "name:" and the words separated by spaces, starting a new
// line before a word that would pass maxLine.
func (h *headerWriter) fold(name string, words []string) {
	h.buf.WriteString(name)
	h.buf.WriteString(":")
	n := len(name) + 1
	for _, w := range words {
		if n+1+len(w) > maxLine {
			h.buf.WriteString("\r\n")
			n = 0
		}
		h.buf.WriteString(" ")
		h.buf.WriteString(w)
		n += 1 + len(w)
	}
	h.buf.WriteString("\r\n")
}

// needsEncoding reports whether words must become encoded words: not
// ASCII, a word that could be taken for an encoded word, or a word too
// long for a line.
func needsEncoding(words []string) bool {
	for _, w := range words {
		if !mailtext.IsASCII(w) || strings.Contains(w, "=?") || len(w) > maxWord {
			return true
		}
	}
	return false
}

// encodeWords encodes s as RFC 2047 "Q" encoded words of at most maxWord
// characters, never splitting a character. Only letters, digits and
// "!*+-/" stay as they are (the set allowed in a phrase, 5(3)), so the
// words are safe in display names too; the space is "_".
func encodeWords(s string) []string {
	const open, end = "=?utf-8?q?", "?="
	var words []string
	var cur strings.Builder
	for _, r := range s {
		var enc strings.Builder
		for _, b := range []byte(string(r)) {
			switch {
			case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9', strings.IndexByte("!*+-/", b) >= 0:
				enc.WriteByte(b)
			case b == ' ':
				enc.WriteByte('_')
			default:
				fmt.Fprintf(&enc, "=%02X", b)
			}
		}
		if cur.Len() > 0 && len(open)+cur.Len()+enc.Len()+len(end) > maxWord {
			words = append(words, open+cur.String()+end)
			cur.Reset()
		}
		cur.WriteString(enc.String())
	}
	if cur.Len() > 0 {
		words = append(words, open+cur.String()+end)
	}
	return words
}
