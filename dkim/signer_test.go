package dkim_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxout/mxout/dkim"
)

const plainMessage = "From: App <app@sender.example>\r\n" +
	"To: someone@rcpt.example\r\n" +
	"Subject: hello\r\n" +
	"Date: Wed, 25 Nov 2026 12:00:00 +0000\r\n" +
	"Message-ID: <1@sender.example>\r\n" +
	"\r\n" +
	"Hello.\r\n"

// eightBitFolded has folded headers (a continuation line with a tab, one
// with spaces), 8-bit UTF-8 in a header and the body, trailing white space
// and empty lines at the end of the body, and a long line.
const eightBitFolded = "Received: from client (127.0.0.1)\r\n\tby relay; Wed, 25 Nov 2026 12:00:00 +0000\r\n" +
	"From: =?utf-8?q?J=C3=BCrgen?=\r\n    <jurgen@sender.example>\r\n" +
	"To: a@rcpt.example,\r\n\tb@rcpt.example\r\n" +
	"Subject: Grüße   aus\r\n  Köln \r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: 8bit\r\n" +
	"\r\n" +
	"Schöne Grüße,   mit Leerzeichen  \r\n" +
	"\tund Tab\r\n" +
	"€uro ✓ 日本語\r\n" +
	".leading dot and a long line: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n" +
	"\r\n\r\n"

func TestSign_VerifiesThroughDNS(t *testing.T) {
	t.Parallel()
	w := newDNS(t)
	rsa := dkim.KeyConfig{Selector: "rsa2026", PrivateKeyFile: rsaFile, Algorithm: dkim.AlgorithmRSA}
	ed := dkim.KeyConfig{Selector: "ed2026", PrivateKeyFile: edFile, Algorithm: dkim.AlgorithmEd25519}
	for _, kc := range []dkim.KeyConfig{rsa, ed} {
		w.publish(t, "sender.example", loadKey(t, kc.PrivateKeyFile, kc.Selector))
	}
	tests := []struct {
		name string
		keys []dkim.KeyConfig
		msg  string
	}{
		{name: "rsa", keys: []dkim.KeyConfig{rsa}, msg: plainMessage},
		{name: "ed25519", keys: []dkim.KeyConfig{ed}, msg: plainMessage},
		{name: "rsa 8-bit folded", keys: []dkim.KeyConfig{rsa}, msg: eightBitFolded},
		{name: "ed25519 8-bit folded", keys: []dkim.KeyConfig{ed}, msg: eightBitFolded},
		{name: "dual", keys: []dkim.KeyConfig{rsa, ed}, msg: eightBitFolded},
		{name: "uppercase From domain", keys: []dkim.KeyConfig{ed}, msg: strings.Replace(plainMessage, "app@sender.example", "app@SENDER.Example", 1)},
		{name: "header only, no separator", keys: []dkim.KeyConfig{rsa}, msg: "From: app@sender.example\r\nSubject: no body\r\n"},
		{name: "empty body", keys: []dkim.KeyConfig{ed}, msg: "From: app@sender.example\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSigner(t, dkim.Config{Domains: []dkim.DomainConfig{domainConfig("sender.example", tt.keys...)}})
			signed, err := s.Sign([]byte(tt.msg), "bounce@envelope.example", nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasSuffix(signed, []byte(tt.msg)) && !bytes.HasSuffix(signed, []byte(tt.msg+"\r\n")) {
				t.Errorf("the message changed under its signatures:\n%q", signed)
			}
			vs := w.verify(t, signed)
			if len(vs) != len(tt.keys) {
				t.Fatalf("%d signatures verified, want %d", len(vs), len(tt.keys))
			}
			for i, v := range vs {
				if v.Err != nil {
					t.Errorf("signature %d (%s): %v\n%s", i, tt.keys[i].Selector, v.Err, signed)
				}
				if v.Domain != "sender.example" {
					t.Errorf("signature %d: d=%s", i, v.Domain)
				}
			}
		})
	}
}

// Signatures gives what Sign adds, for a caller that puts the fields in
// front of its own buffer: the fields, and the separator an all-header
// message needs at its end.
func TestSignatures_WhatSignAdds(t *testing.T) {
	t.Parallel()
	w := newDNS(t)
	w.publish(t, "sender.example", loadKey(t, edFile, "ed"))
	s := newSigner(t, dkim.Config{Domains: []dkim.DomainConfig{domainConfig("sender.example", dkim.KeyConfig{Selector: "ed", PrivateKeyFile: edFile})}})
	tests := []struct{ name, msg, sep string }{
		{name: "terminated", msg: plainMessage},
		{name: "header only", msg: "From: app@sender.example\r\nSubject: no body\r\n", sep: "\r\n"},
		{name: "header only, no line end", msg: "From: app@sender.example", sep: "\r\n\r\n"},
	}
	for _, tt := range tests {
		sig, err := s.Signatures([]byte(tt.msg), "", nil)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if string(sig.Separator) != tt.sep || !bytes.HasPrefix(sig.Fields, []byte("DKIM-Signature:")) {
			t.Errorf("%s: fields %q, separator %q, want %q", tt.name, sig.Fields, sig.Separator, tt.sep)
		}
		signed := append(append(append([]byte(nil), sig.Fields...), tt.msg...), sig.Separator...)
		if vs := w.verify(t, signed); len(vs) != 1 || vs[0].Err != nil {
			t.Errorf("%s: the fields in front of the message do not verify: %+v", tt.name, vs)
		}
	}
	nokey := "From: app@other.example\r\n\r\nHi.\r\n"
	if sig, err := s.Signatures([]byte(nokey), "", nil); err != nil || sig.Fields != nil || sig.Separator != nil {
		t.Errorf("a domain without a key: %+v, %v; want nothing to add", sig, err)
	}
}

func TestSign_TamperingBreaksTheSignature(t *testing.T) {
	t.Parallel()
	w := newDNS(t)
	w.publish(t, "sender.example", loadKey(t, edFile, "ed"))
	s := newSigner(t, dkim.Config{Domains: []dkim.DomainConfig{domainConfig("sender.example", dkim.KeyConfig{Selector: "ed", PrivateKeyFile: edFile})}})
	signed, err := s.Sign([]byte(plainMessage), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(signed), "c=relaxed/relaxed") || !strings.Contains(strings.ToLower(string(signed)), "h=from:from:to") {
		t.Errorf("want relaxed/relaxed and From over-signed:\n%s", signed)
	}
	tests := []struct {
		name   string
		tamper func(string) string
	}{
		{name: "body changed", tamper: func(m string) string { return strings.Replace(m, "Hello.", "Hullo.", 1) }},
		{name: "subject changed", tamper: func(m string) string { return strings.Replace(m, "Subject: hello", "Subject: HELLO", 1) }},
		{name: "second From added", tamper: func(m string) string {
			return strings.Replace(m, "To: ", "From: evil@attacker.example\r\nTo: ", 1)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			vs := w.verify(t, []byte(tt.tamper(string(signed))))
			if len(vs) != 1 || vs[0].Err == nil {
				t.Errorf("a tampered message verified")
			}
		})
	}
	t.Run("white space only (relaxed)", func(t *testing.T) {
		t.Parallel()
		m := strings.Replace(string(signed), "Subject: hello", "Subject:   hello  ", 1)
		if vs := w.verify(t, []byte(m)); len(vs) != 1 || vs[0].Err != nil {
			t.Errorf("relaxed canonicalisation should ignore white space changes: %v", vs[0].Err)
		}
	})
}

func TestSign_SigningDomain(t *testing.T) {
	t.Parallel()
	s := newSigner(t, dkim.Config{Domains: []dkim.DomainConfig{
		domainConfig("sender.example", dkim.KeyConfig{Selector: "ed", PrivateKeyFile: edFile}),
		domainConfig("xn--bcher-kva.example", dkim.KeyConfig{Selector: "ed", PrivateKeyFile: edFileB}),
	}})
	tests := []struct {
		name, msg, envFrom string
		wantD              string // "" means unsigned
	}{
		{name: "From header", msg: plainMessage, envFrom: "other@envelope.example", wantD: "sender.example"},
		{name: "From wins over the envelope", msg: strings.Replace(plainMessage, "sender.example>", "unknown.example>", 1), envFrom: "app@sender.example"},
		{name: "no From: envelope sender", msg: "Subject: x\r\n\r\nbody\r\n", envFrom: "app@Sender.Example", wantD: "sender.example"},
		{name: "domain without a key", msg: strings.ReplaceAll(plainMessage, "sender.example", "nokey.example"), envFrom: "app@nokey.example"},
		{name: "null sender, no From", msg: "Subject: x\r\n\r\nbody\r\n", envFrom: ""},
		{name: "IDN From", msg: "From: a@bücher.example\r\n\r\nx\r\n", wantD: "xn--bcher-kva.example"},
		{name: "unknown charset in display name", msg: "From: =?x-unknown?q?abc?= <a@sender.example>\r\n\r\nx\r\n", wantD: "sender.example"},
		{name: "folded From", msg: "From: Some Name\r\n <a@sender.example>\r\n\r\nx\r\n", wantD: "sender.example"},
		{name: "two addresses: the first", msg: "From: a@sender.example, b@other.example\r\n\r\nx\r\n", wantD: "sender.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			signed, err := s.Sign([]byte(tt.msg), tt.envFrom, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantD == "" {
				if string(signed) != tt.msg {
					t.Errorf("signed, want unchanged:\n%s", signed)
				}
				return
			}
			if !strings.HasPrefix(string(signed), "DKIM-Signature:") || !strings.Contains(string(signed), " d="+tt.wantD+";") {
				t.Errorf("want a signature with d=%s:\n%s", tt.wantD, signed)
			}
		})
	}
}

func TestSign_RequireRefusesDomainsWithoutKey(t *testing.T) {
	t.Parallel()
	s := newSigner(t, dkim.Config{Require: true, Domains: []dkim.DomainConfig{
		domainConfig("sender.example", dkim.KeyConfig{Selector: "ed", PrivateKeyFile: edFile}),
	}})
	if _, err := s.Sign([]byte(plainMessage), "", nil); err != nil {
		t.Errorf("a domain with a key was refused: %v", err)
	}
	for _, tc := range []struct{ msg, envFrom, domain string }{
		{msg: strings.ReplaceAll(plainMessage, "sender.example", "nokey.example"), domain: "nokey.example"},
		{msg: "Subject: x\r\n\r\nx\r\n", envFrom: "", domain: ""},
	} {
		_, err := s.Sign([]byte(tc.msg), tc.envFrom, nil)
		var nk *dkim.NoKeyError
		if !errors.As(err, &nk) || !errors.Is(err, dkim.ErrNoKey) || !nk.Permanent() || nk.Domain != tc.domain {
			t.Errorf("Sign = %v; want a permanent *NoKeyError for %q", err, tc.domain)
		}
	}
}

// The allowed function is asked about a signing domain that has a key,
// and a domain it refuses is not signed with that key: the message is
// refused instead. Domains without a key never reach it.
func TestSign_AllowedDomainsOnly(t *testing.T) {
	t.Parallel()
	s := newSigner(t, dkim.Config{Domains: []dkim.DomainConfig{
		domainConfig("sender.example", dkim.KeyConfig{Selector: "ed", PrivateKeyFile: edFile}),
		domainConfig("other.example", dkim.KeyConfig{Selector: "ed", PrivateKeyFile: edFileB}),
	}})
	var asked []string
	onlySender := func(domain string) bool {
		asked = append(asked, domain)
		return domain == "sender.example"
	}
	if signed, err := s.Sign([]byte(plainMessage), "", onlySender); err != nil || !strings.Contains(string(signed), " d=sender.example;") {
		t.Errorf("an allowed domain: %v\n%s", err, signed)
	}
	other := strings.ReplaceAll(plainMessage, "sender.example", "Other.Example")
	signed, err := s.Sign([]byte(other), "app@sender.example", onlySender)
	var na *dkim.DomainNotAllowedError
	if !errors.As(err, &na) || !errors.Is(err, dkim.ErrDomainNotAllowed) || !na.Permanent() || na.Domain != "other.example" || signed != nil {
		t.Errorf("a domain the sender may not use: %v, %q; want a permanent *DomainNotAllowedError for other.example and nothing signed", err, signed)
	}
	nokey := strings.ReplaceAll(plainMessage, "sender.example", "nokey.example")
	if signed, err := s.Sign([]byte(nokey), "", onlySender); err != nil || string(signed) != nokey {
		t.Errorf("a domain without a key goes out unsigned: %v\n%s", err, signed)
	}
	if want := []string{"sender.example", "other.example"}; strings.Join(asked, ",") != strings.Join(want, ",") {
		t.Errorf("allowed was asked about %q, want %q (normalised, and only for domains with a key)", asked, want)
	}
}

func TestSignDomain_BouncesUseTheHostnameKey(t *testing.T) {
	t.Parallel()
	w := newDNS(t)
	w.publish(t, "relay.example", loadKey(t, rsaFile, "host"))
	s := newSigner(t, dkim.Config{Require: true, Domains: []dkim.DomainConfig{
		domainConfig("relay.example", dkim.KeyConfig{Selector: "host", PrivateKeyFile: rsaFile}),
	}})
	bounce := "From: Mail Delivery System <MAILER-DAEMON@relay.example>\r\nTo: app@sender.example\r\n" +
		"Subject: Undelivered Mail\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b--\r\n"
	signed, err := s.SignDomain("Relay.Example.", []byte(bounce))
	if err != nil {
		t.Fatal(err)
	}
	if vs := w.verify(t, signed); len(vs) != 1 || vs[0].Err != nil || vs[0].Domain != "relay.example" {
		t.Errorf("bounce signature does not verify: %+v", vs)
	}
	// No key for the domain: unchanged, even though signing is required.
	out, err := s.SignDomain("other.example", []byte(bounce))
	if err != nil || string(out) != bounce {
		t.Errorf("SignDomain without a key = %q, %v; want the message unchanged", out, err)
	}
}

func TestNew_KeyErrorsNameTheKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name string
		kc   dkim.KeyConfig
		want []string
	}{
		{name: "missing", kc: dkim.KeyConfig{Selector: "s1", PrivateKeyFile: filepath.Join(dir, "nope.pem")}, want: []string{"s1", "nope.pem", "no such file"}},
		{name: "unreadable (a directory)", kc: dkim.KeyConfig{Selector: "s2", PrivateKeyFile: dir}, want: []string{"s2", dir}},
		{name: "not a key", kc: dkim.KeyConfig{Selector: "s3", PrivateKeyFile: "helpers_test.go"}, want: []string{"s3", "helpers_test.go", "no PEM private key"}},
		{name: "algorithm mismatch", kc: dkim.KeyConfig{Selector: "s4", PrivateKeyFile: edFile, Algorithm: dkim.AlgorithmRSA}, want: []string{"s4", edFile, "ed25519-sha256 key"}},
		{name: "encrypted", kc: dkim.KeyConfig{Selector: "s5", PrivateKeyFile: encrypted}, want: []string{"s5", "encrypted"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := dkim.New(dkim.Config{Domains: []dkim.DomainConfig{domainConfig("sender.example", tt.kc)}})
			if err == nil {
				t.Fatal("New accepted a bad key")
			}
			for _, w := range append(tt.want, "sender.example") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestReload_KeepsTheOldKeysOnFailure(t *testing.T) {
	t.Parallel()
	w := newDNS(t)
	w.publish(t, "sender.example", loadKey(t, edFile, "old"))
	w.publish(t, "sender.example", loadKey(t, edFileB, "new"))
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "key.pem")
	copyFile(t, edFile, keyPath)
	cfg := func(sel, file string) dkim.Config {
		return dkim.Config{Domains: []dkim.DomainConfig{domainConfig("sender.example", dkim.KeyConfig{Selector: sel, PrivateKeyFile: file})}}
	}
	s := newSigner(t, cfg("old", keyPath))
	verifiesAs := func(sel string) {
		t.Helper()
		signed, err := s.Sign([]byte(plainMessage), "", nil)
		if err != nil {
			t.Fatal(err)
		}
		vs := w.verify(t, signed)
		if len(vs) != 1 || vs[0].Err != nil || !strings.Contains(string(signed), " s="+sel+";") {
			t.Errorf("want a valid signature by selector %s:\n%s", sel, signed)
		}
	}
	verifiesAs("old")

	if err := os.Remove(keyPath); err != nil {
		t.Fatal(err)
	}
	err := s.Reload(cfg("new", keyPath))
	if err == nil || !strings.Contains(err.Error(), keyPath) {
		t.Errorf("Reload with a missing key = %v; want an error naming %s", err, keyPath)
	}
	verifiesAs("old") // still signing with the key loaded before

	copyFile(t, edFileB, keyPath)
	if err := s.Reload(cfg("new", keyPath)); err != nil {
		t.Fatal(err)
	}
	verifiesAs("new")
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
