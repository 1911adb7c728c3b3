package dkim

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	msgauth "github.com/emersion/go-msgauth/dkim"
)

func FuzzParsePrivateKey(f *testing.F) {
	for _, file := range []string{"testdata/rsa1024-pkcs1.pem", "testdata/ed25519.pem", "testdata/ec-p256.pem", "testdata/ed25519-encrypted.pem"} {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParsePrivateKey(data)
		if err != nil {
			return
		}
		if _, err := AlgorithmOf(k.Public()); err != nil {
			t.Errorf("ParsePrivateKey returned a key it cannot sign with: %v", err)
		}
	})
}

func FuzzParseRecord(f *testing.F) {
	for _, s := range []string{
		"v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQ",
		"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
		"k=ed25519; t=y:s; h=sha256; s=email; p=",
		"v=DKIM1;;; p = AAAA ;",
		"p", "=", "v=DKIM1; v=DKIM1; p=",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRecord(s)
		if err != nil {
			return
		}
		// What parses must format to a record that parses to the same key.
		back, err := ParseRecord(r.String())
		if err != nil {
			t.Fatalf("ParseRecord(%q) = %+v, whose String %q does not parse: %v", s, r, r.String(), err)
		}
		if !bytes.Equal(back.PublicKey, r.PublicKey) || back.KeyType != r.KeyType {
			t.Errorf("round trip changed the key: %+v -> %+v", r, back)
		}
		if _, err := r.PublicKeyValue(); err == nil && !r.Matches(mustPublic(t, r)) {
			t.Errorf("a record does not match its own key: %+v", r)
		}
	})
}

func mustPublic(t *testing.T, r Record) any {
	t.Helper()
	k, err := r.PublicKeyValue()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func FuzzSigningDomain(f *testing.F) {
	for _, s := range []string{
		"From: a@example.com\r\n\r\nbody\r\n",
		"From: \"Doe, J\" <j@Example.COM>\r\nTo: x\r\n\r\n",
		"Subject: x\r\nFrom: =?x-bad?q?z?=\r\n <a@b.example>\r\n\r\n",
		"From: a@bücher.example\r\n",
		"From: undisclosed:;\r\n\r\n",
		"FROM : (comment) a@[127.0.0.1]\r\n\r\n",
		" continuation first\r\nFrom: a@b\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		h := scanHeader([]byte(msg))
		d := fromDomain(h.From)
		if d != "" && NormalizeDomain(d) != d {
			t.Errorf("fromDomain(%q) = %q, not normalised", h.From, d)
		}
		if strings.ContainsAny(d, " \t\r\n@<>") {
			t.Errorf("fromDomain(%q) = %q", h.From, d)
		}
	})
}

// FuzzSign signs arbitrary CRLF messages and checks that go-msgauth
// verifies every signature made.
func FuzzSign(f *testing.F) {
	for _, s := range []string{
		"From: a@sign.example\r\nSubject: hi\r\n\r\nbody\r\n",
		"From: a@sign.example\r\nSubject: folded\r\n\tline\r\n\r\n8-bit ü\r\n\r\n\r\n",
		"From: a@sign.example\r\n",
		"From: a@sign.example",
		"X: y\r\nFrom: <a@sign.example>\r\nFrom: b@sign.example\r\n\r\n",
	} {
		f.Add(s)
	}
	s, err := New(Config{Domains: []DomainConfig{{
		Domain:  "sign.example",
		Keys:    []KeyConfig{{Selector: "ed", PrivateKeyFile: "testdata/ed25519.pem"}},
		Headers: []string{"From", "From", "To", "Subject", "X"},
	}}})
	if err != nil {
		f.Fatal(err)
	}
	key, err := LoadKey(KeyConfig{Selector: "ed", PrivateKeyFile: "testdata/ed25519.pem"})
	if err != nil {
		f.Fatal(err)
	}
	rec, err := NewRecord(key.Signer.Public())
	if err != nil {
		f.Fatal(err)
	}
	lookup := func(string) ([]string, error) { return []string{rec.String()}, nil }
	f.Fuzz(func(t *testing.T, msg string) {
		if strings.Contains(strings.ReplaceAll(msg, "\r\n", ""), "\n") || strings.Contains(strings.ReplaceAll(msg, "\r\n", ""), "\r") {
			return // submission refuses bare LF and CR before signing
		}
		signed, err := s.Sign([]byte(msg), "", nil)
		if errors.Is(err, ErrMalformedHeader) && (msg[0] == ' ' || msg[0] == '\t') {
			return
		}
		if err != nil {
			t.Fatalf("Sign(%q): %v", msg, err)
		}
		if !bytes.HasPrefix(signed, []byte("DKIM-Signature:")) {
			return // another signing domain, or none
		}
		vs, err := msgauth.VerifyWithOptions(bytes.NewReader(signed), &msgauth.VerifyOptions{LookupTXT: lookup})
		if err != nil {
			t.Fatalf("verify %q: %v", signed, err)
		}
		if len(vs) != 1 || vs[0].Err != nil {
			t.Fatalf("the signature of %q does not verify: %v", signed, vs[0].Err)
		}
	})
}
