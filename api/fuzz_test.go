package api

import (
	"bytes"
	"net/mail"
	"strings"
	"testing"
	"time"
)

// Any body: a refusal is an *Error; an accepted built message parses as
// mail, has no Bcc field and no line over 998 octets, and ends in CRLF.
func FuzzSendRequest(f *testing.F) {
	for _, s := range []string{
		`{"from":"A <a@example.com>","to":["b@example.net"],"bcc":["c@example.org"],"subject":"é","text":"t","html":"<b>h</b>","headers":{"X-A":"ü"},"attachments":[{"filename":"f.txt","content":"aGk="}],"metadata":{"k":"v"}}`,
		`{"envelope_from":"a@example.com","recipients":["b@example.net"],"raw":"Subject: x\n\nbody"}`,
		`{"from":"\"q\\\"uote\" <a@example.com>","to":["=?utf-8?q?x?= <b@example.net>"],"text":"a\rb"}`,
		`{"from":"a@example.com","to":["b@example.net"],"subject":"` + strings.Repeat("long ", 100) + `","text":"x"}`,
	} {
		f.Add([]byte(s))
	}
	s, err := New(Config{Hostname: "relay.example", MaxMessageBytes: 1 << 20, MaxRecipients: 100}, nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		req, raw, err := s.decodeRequest(body)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("refusal %T %v, want *Error", err, err)
			}
			return
		}
		var m *Message
		if raw {
			m, err = s.rawMessage(req, "0123456789abcdefghij")
		} else {
			m, err = s.builtMessage(req, "0123456789abcdefghij", now)
		}
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("refusal %T %v, want *Error", err, err)
			}
			return
		}
		if !bytes.HasSuffix(m.Body, []byte("\r\n")) || bytes.Count(m.Body, []byte("\n")) != bytes.Count(m.Body, []byte("\r\n")) {
			t.Fatalf("line ends: %q", m.Body)
		}
		if raw {
			return
		}
		msg, err := mail.ReadMessage(bytes.NewReader(m.Body))
		if err != nil {
			t.Fatalf("built message does not parse: %v\n%s", err, m.Body)
		}
		if _, ok := msg.Header["Bcc"]; ok {
			t.Fatal("a Bcc field")
		}
		if len(msg.Header["From"]) != 1 || len(msg.Header["Message-Id"]) != 1 {
			t.Fatalf("From %q Message-ID %q", msg.Header["From"], msg.Header["Message-Id"])
		}
		for _, line := range bytes.Split(m.Body, []byte("\r\n")) {
			if len(line) > 998 {
				t.Fatalf("a line of %d octets", len(line))
			}
		}
	})
}
