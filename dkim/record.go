package dkim

import (
	"cmp"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/mxout/mxout/internal/mailtext"
)

// maxTXTString is the longest character-string of a TXT record (RFC 1035
// 3.3): a DKIM record longer than this is published as several strings.
const maxTXTString = 255

// Record is a DKIM key record (RFC 6376 3.6.1), the TXT record published at
// <selector>._domainkey.<domain>.
type Record struct {
	// KeyType is the k= tag: "rsa" (the default) or "ed25519".
	KeyType string
	// PublicKey is the decoded p= tag: DER SubjectPublicKeyInfo (or PKCS#1)
	// for RSA, the raw 32 octets for Ed25519. Empty means revoked.
	PublicKey []byte
	// Hashes is the h= tag: the hash algorithms allowed; empty means all.
	Hashes []string
	// Flags is the t= tag: "y" (testing), "s" (no subdomains).
	Flags []string
	// Services is the s= tag: "email" or "*"; empty means all.
	Services []string
}

// NewRecord returns the record that publishes pub.
func NewRecord(pub crypto.PublicKey) (Record, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			return Record{}, fmt.Errorf("encode RSA public key: %w", err)
		}
		return Record{KeyType: "rsa", PublicKey: der}, nil
	case ed25519.PublicKey:
		return Record{KeyType: "ed25519", PublicKey: append([]byte(nil), k...)}, nil
	}
	return Record{}, fmt.Errorf("unsupported key type %T: want RSA or Ed25519", pub)
}

// String formats the record as its TXT value: "v=DKIM1; k=rsa; p=...".
func (r Record) String() string {
	var b strings.Builder
	b.WriteString("v=DKIM1; k=")
	b.WriteString(cmp.Or(r.KeyType, "rsa"))
	if len(r.Hashes) > 0 {
		b.WriteString("; h=" + strings.Join(r.Hashes, ":"))
	}
	if len(r.Services) > 0 {
		b.WriteString("; s=" + strings.Join(r.Services, ":"))
	}
	if len(r.Flags) > 0 {
		b.WriteString("; t=" + strings.Join(r.Flags, ":"))
	}
	b.WriteString("; p=")
	b.WriteString(base64.StdEncoding.EncodeToString(r.PublicKey))
	return b.String()
}

// Testing reports whether the record carries the t=y flag: receivers are
// asked to treat failed signatures like unsigned mail.
func (r Record) Testing() bool {
	for _, f := range r.Flags {
		if f == "y" {
			return true
		}
	}
	return false
}

// PublicKeyValue returns the key the record publishes: *rsa.PublicKey or
// ed25519.PublicKey.
func (r Record) PublicKeyValue() (crypto.PublicKey, error) {
	if len(r.PublicKey) == 0 {
		return nil, errors.New("key revoked (empty p=)")
	}
	switch r.KeyType {
	case "rsa", "":
		pub, err := x509.ParsePKIXPublicKey(r.PublicKey)
		if err != nil {
			// RFC 6376 erratum 3017: some publish a bare RSAPublicKey.
			rk, err2 := x509.ParsePKCS1PublicKey(r.PublicKey)
			if err2 != nil {
				return nil, fmt.Errorf("p= is not an RSA public key: %w", err)
			}
			return rk, nil
		}
		rk, ok := pub.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("p= holds a %T, but k=rsa", pub)
		}
		return rk, nil
	case "ed25519":
		if len(r.PublicKey) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("p= has %d octets, an Ed25519 key has %d", len(r.PublicKey), ed25519.PublicKeySize)
		}
		return ed25519.PublicKey(r.PublicKey), nil
	}
	return nil, fmt.Errorf("unknown key type k=%s", r.KeyType)
}

// Matches reports whether the record publishes pub.
func (r Record) Matches(pub crypto.PublicKey) bool {
	got, err := r.PublicKeyValue()
	if err != nil {
		return false
	}
	eq, ok := got.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(pub)
}

// ParseRecord parses a DKIM key record, its TXT strings already joined.
// It follows the tag-list syntax of RFC 6376 3.2: "tag=value" pairs
// separated by ';', white space around them ignored, a tag at most once,
// unknown tags ignored; v=, when present, must be the first tag and
// "DKIM1"; p= is required (empty: revoked).
func ParseRecord(txt string) (Record, error) {
	var r Record
	seen := map[string]bool{}
	first := true
	havePub := false
	for _, spec := range strings.Split(txt, ";") {
		spec = strings.TrimSpace(spec)
		if spec == "" {
			continue // a trailing ';' is allowed
		}
		name, value, ok := strings.Cut(spec, "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || !isTagName(name) {
			return Record{}, fmt.Errorf("malformed tag %q", clip(spec))
		}
		if seen[name] {
			return Record{}, fmt.Errorf("tag %s= appears twice", name)
		}
		seen[name] = true
		switch name {
		case "v":
			if !first || value != "DKIM1" {
				return Record{}, fmt.Errorf("v=%s: want v=DKIM1 as the first tag", clip(value))
			}
		case "k":
			r.KeyType = value
		case "p":
			key, err := base64.StdEncoding.DecodeString(stripSpace(value))
			if err != nil {
				return Record{}, fmt.Errorf("p= is not base64: %w", err)
			}
			r.PublicKey, havePub = key, true
		case "h":
			r.Hashes = colonList(value)
		case "t":
			r.Flags = colonList(value)
		case "s":
			r.Services = colonList(value)
		}
		first = false
	}
	if !havePub {
		return Record{}, errors.New("no p= tag")
	}
	if r.KeyType == "" {
		r.KeyType = "rsa"
	}
	return r, nil
}

// isTagName: ALPHA *ALNUMPUNC (RFC 6376 3.2).
func isTagName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		alpha := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !alpha && (i == 0 || !('0' <= c && c <= '9' || c == '_')) {
			return false
		}
	}
	return s != ""
}

func colonList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ":") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func stripSpace(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, s)
}

// clip shortens untrusted text quoted in an error (to 43 bytes).
func clip(s string) string { return mailtext.Clip(s, 43, "...") }

// SplitTXT cuts a record value into TXT character-strings of at most 255
// octets; resolvers join them back (RFC 6376 3.6.2.2).
func SplitTXT(value string) []string {
	var out []string
	for len(value) > maxTXTString {
		out = append(out, value[:maxTXTString])
		value = value[maxTXTString:]
	}
	return append(out, value)
}

// RecordName is where the key for selector at domain is published.
func RecordName(selector, domain string) string {
	return selector + "._domainkey." + strings.TrimSuffix(domain, ".")
}

// ZoneEntry formats the record as a zone-file line for name, its value
// split into strings of at most 255 octets.
func ZoneEntry(name string, r Record) string {
	var b strings.Builder
	b.WriteString(strings.TrimSuffix(name, ".") + ". IN TXT (")
	for _, s := range SplitTXT(r.String()) {
		b.WriteString(" \"" + s + "\"")
	}
	b.WriteString(" )")
	return b.String()
}
