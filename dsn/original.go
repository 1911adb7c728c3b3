package dsn

import (
	"bytes"
	"encoding/base64"
	"strings"

	"github.com/mxout/mxout/internal/header"
	"github.com/mxout/mxout/internal/mailtext"
)

// originalPart is the third part: the original message or its header.
//
// ASCII content goes as message/rfc822 or text/rfc822-headers, 7bit.
// Content with 8-bit octets (an 8BITMIME body, SMTPUTF8 headers) cannot be
// 7bit, and message/rfc822 allows no encoding but 7bit, 8bit and binary
// (RFC 2046 §5.2.1); so it goes as message/global or message/global-headers
// (RFC 6532 §3.7, RFC 6533 §6.3), which allow any encoding: unencoded when
// the report travels with SMTPUTF8, base64 otherwise, so that the report
// stays valid over any 7-bit path.
func (r *Report) originalPart(utf8Transport bool) (part, bool) {
	if r.Original == nil || r.Return == ReturnNothing {
		return part{}, false
	}
	content, ascii := r.Original, mailtext.IsASCII(string(r.Original))
	var p part
	if r.Return == ReturnHeaders {
		content = headerBlock(r.Original)
		ascii = mailtext.IsASCII(string(content))
		p = part{contentType: "text/rfc822-headers", description: "Headers of the original message"}
		if !ascii {
			p.contentType = "message/global-headers"
		}
	} else {
		p = part{contentType: "message/rfc822", description: "The original message"}
		if !ascii {
			p.contentType = "message/global"
		}
	}
	switch {
	case ascii:
		p.encoding, p.body = "7bit", withCRLF(content)
	case utf8Transport:
		p.encoding, p.body = "8bit", withCRLF(content)
	default:
		p.encoding, p.body = "base64", base64Lines(content)
	}
	return p, true
}

// headerBlock returns the original's header section with the empty line
// that ends it, so that the part parses as a header on its own.
func headerBlock(msg []byte) []byte {
	h, _, _ := header.Split(msg)
	return append(append([]byte(nil), withCRLF(h)...), "\r\n"...)
}

// withCRLF makes sure b ends with a line end, so that the boundary that
// follows starts a line of its own.
func withCRLF(b []byte) []byte {
	if len(b) == 0 || bytes.HasSuffix(b, []byte("\r\n")) {
		return b
	}
	return append(append([]byte(nil), b...), "\r\n"...)
}

// base64Lines encodes b in lines of 76 characters (RFC 2045 §6.8).
func base64Lines(b []byte) []byte {
	enc := base64.StdEncoding.EncodeToString(b)
	var out bytes.Buffer
	for len(enc) > 76 {
		out.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	out.WriteString(enc + "\r\n")
	return out.Bytes()
}

// originalMessageID finds the original's Message-ID for the References
// field, so that mail readers thread the report with the message. Only a
// well-formed <...> value of the first Message-ID field is used (unfolded).
func originalMessageID(msg []byte) string {
	raw, ok := header.First(msg, "Message-ID")
	if !ok {
		return ""
	}
	v := header.Unfold(raw)
	if len(v) > 2 && len(v) < 250 && v[0] == '<' && v[len(v)-1] == '>' &&
		strings.Count(v, "<") == 1 && strings.Count(v, ">") == 1 && isPrintableASCII(v) {
		return v
	}
	return ""
}

func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
