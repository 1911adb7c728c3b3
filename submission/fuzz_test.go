package submission

import (
	"bytes"
	"errors"
	"io"
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
		out := stampMessage(msg, st)
		if !bytes.HasSuffix(out, msg) {
			t.Fatal("original not kept at the end")
		}
		if got := scanHeader(out); !got.HasHeader || !got.HasMessageID || !got.HasDate {
			t.Fatalf("stamped message header %+v", got)
		}
	})
}

func FuzzCRLFReader(f *testing.F) {
	for _, s := range []string{"", "a\r\nb\r\n", "a\nb", "a\rb", "\r", "\n.\r\n", "a\r\n.\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		// Reference: every CR is followed by LF and every LF preceded by CR.
		want := true
		for i, b := range in {
			if b == '\r' && (i+1 == len(in) || in[i+1] != '\n') || b == '\n' && (i == 0 || in[i-1] != '\r') {
				want = false
			}
		}
		for _, r := range []io.Reader{bytes.NewReader(in), iotest.OneByteReader(bytes.NewReader(in))} {
			got, err := io.ReadAll(newCRLFReader(r, 0))
			if want && (err != nil || !bytes.Equal(got, in)) {
				t.Fatalf("valid input: %q, %v", got, err)
			}
			if !want && !errors.Is(err, errBareLineEnding) {
				t.Fatalf("invalid input accepted: %v", err)
			}
		}
	})
}
