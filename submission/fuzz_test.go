package submission

import (
	"bytes"
	"errors"
	"io"
	"net/mail"
	"net/netip"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf8"
)

func FuzzCheckAddress(f *testing.F) {
	for _, s := range []string{"a@example.com", "a@[192.0.2.1]", "a@[IPv6:::1]", "jöran@exämple.org", "a..b@x.y", "a@b", "@", "a@-b.c", "\"a b\"@c.d"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, addr string, utf8Allowed bool) {
		err := checkAddress(addr, utf8Allowed)
		if err != nil {
			if !errors.Is(err, errAddressSyntax) && !errors.Is(err, errAddressUTF8) {
				t.Fatalf("unexpected error %v", err)
			}
			if errors.Is(err, errAddressUTF8) && checkAddress(addr, true) != nil {
				t.Fatalf("%q: UTF-8 error, but invalid with SMTPUTF8 too", addr)
			}
			return
		}
		if len(addr) > maxAddressLen || !strings.Contains(addr, "@") || !utf8.ValidString(addr) {
			t.Fatalf("%q accepted", addr)
		}
		if strings.ContainsFunc(addr, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '<' || r == '>' }) {
			t.Fatalf("%q accepted with a space, control or bracket", addr)
		}
		if !utf8Allowed && strings.ContainsFunc(addr, func(r rune) bool { return r >= utf8.RuneSelf }) {
			t.Fatalf("%q accepted as ASCII", addr)
		}
	})
}

func FuzzScanHeader(f *testing.F) {
	for _, s := range []string{"", "Subject: x\r\n\r\nbody", "Message-ID: <a@b>\r\nDate: x\r\n\r\n", "\r\n", "body only\r\n", " cont\r\n", "A: b\r\n c\r\nDate : d\n\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		h := scanHeader(msg)
		if (h.HasMessageID || h.HasDate) && !h.HasHeader {
			t.Fatalf("%+v: fields without a header", h)
		}
		st := stamp{ID: "0123456789abcdefghij", Hostname: "relay.example.net", IP: netip.MustParseAddr("192.0.2.1"), Now: time.Unix(0, 0)}
		out := append(stampFields(msg, st), msg...)
		if !bytes.HasSuffix(out, msg) {
			t.Fatal("original not kept at the end")
		}
		if got := scanHeader(out); !got.HasHeader || !got.HasMessageID || !got.HasDate {
			t.Fatalf("stamped message header %+v", got)
		}
	})
}

func FuzzCRLFReader(f *testing.F) {
	for _, s := range []string{"", "a\r\nb\r\n", "a\nb", "a\rb", "\r", "\n.\r\n", "a\r\n.\r\n", "abcdef\r\nab\r\n"} {
		f.Add([]byte(s), uint8(0))
		f.Add([]byte(s), uint8(4))
	}
	f.Fuzz(func(t *testing.T, in []byte, maxLine uint8) {
		// Reference: every CR is followed by LF and every LF preceded by
		// CR; no line (CRLF included) is longer than maxLine, if set. When
		// both are broken, either error may come first.
		bare, long := false, false
		lineLen := 0
		for i, b := range in {
			if b == '\r' && (i+1 == len(in) || in[i+1] != '\n') || b == '\n' && (i == 0 || in[i-1] != '\r') {
				bare = true
			}
			if lineLen++; maxLine > 0 && lineLen > int(maxLine) {
				long = true
			}
			if b == '\n' {
				lineLen = 0
			}
		}
		for _, r := range []io.Reader{bytes.NewReader(in), iotest.OneByteReader(bytes.NewReader(in))} {
			got, err := io.ReadAll(newCRLFReader(r, int(maxLine)))
			switch {
			case bare && long && !errors.Is(err, errBareLineEnding) && !errors.Is(err, errLineTooLong):
				t.Fatalf("bad input accepted: %v", err)
			case bare && !long && !errors.Is(err, errBareLineEnding):
				t.Fatalf("bare line ending accepted: %v", err)
			case long && !bare && !errors.Is(err, errLineTooLong):
				t.Fatalf("long line accepted: %v", err)
			case !bare && !long && (err != nil || !bytes.Equal(got, in)):
				t.Fatalf("valid input: %q, %v", got, err)
			}
		}
	})
}

func FuzzHeaderFrom(f *testing.F) {
	for _, s := range []string{
		"From: a@example.org\r\n\r\n", "From: \"A\" <a@example.org>, b@example.com\r\n\r\n",
		"From: a@example.org\r\nFrom: b@example.org\r\n\r\n", "From:\r\n a@example.org\r\n\r\n",
		"From: g: a@example.org, b@example.org;\r\n\r\n", "From: =?utf-8?b?w7Y=?= <a@example.org>\r\n\r\n",
		"FROM : <a@[192.0.2.1]>\n\n", "From: <a@example.org\r\n\r\n", "x\r\nFrom: a@example.org\r\n",
	} {
		f.Add([]byte(s))
	}
	auth, err := newAuthenticator([]User{{Username: "app", PasswordHash: hash(f, "pw"), AllowedSenders: []string{"*@example.org"}}})
	if err != nil {
		f.Fatal(err)
	}
	acc := auth.lookup("app")
	f.Fuzz(func(t *testing.T, msg []byte) {
		froms := headerFrom(msg)
		if !acc.mayUseHeaderFrom(msg) {
			return
		}
		if len(froms) != 1 {
			t.Fatalf("%d From fields accepted", len(froms))
		}
		list, err := mail.ParseAddressList(froms[0])
		if err != nil || len(list) == 0 {
			t.Fatalf("accepted, but %q does not parse: %v", froms[0], err)
		}
		for _, a := range list {
			if at := strings.LastIndexByte(a.Address, '@'); at < 0 || !strings.EqualFold(a.Address[at+1:], "example.org") {
				t.Fatalf("accepted From mailbox %q outside *@example.org", a.Address)
			}
		}
	})
}

func FuzzSenderPattern(f *testing.F) {
	for _, s := range [][2]string{
		{"*", ""}, {"*@example.com", "a@EXAMPLE.com"}, {"*@example.com", "a@evilexample.com"},
		{"noreply@example.com", "noreply@example.com"}, {"a*@example.com", "ab@example.com"},
		{"*@", "a@"}, {"@example.com", "a@example.com"}, {"*@[192.0.2.1]", "a@[192.0.2.1]"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, from string) {
		p, err := parseSenderPattern(pattern)
		if err != nil || !p.match(from) || p.any {
			return
		}
		at := strings.LastIndexByte(from, '@')
		if at < 0 || !strings.EqualFold(from[at+1:], p.domain) || p.domain == "" {
			t.Fatalf("pattern %q matched %q outside its domain", pattern, from)
		}
		if p.local != "" && from[:at] != p.local {
			t.Fatalf("pattern %q matched %q with another local part", pattern, from)
		}
	})
}
