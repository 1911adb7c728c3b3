package dsn

import (
	"bytes"
	"testing"
)

// FuzzReport builds reports from arbitrary addresses, replies, host names,
// ORCPTs and originals, and parses each back as a receiver would: a report
// is either refused or well-formed (one field per line, 7-bit unless its
// recipient needs SMTPUTF8, the original returned intact).
func FuzzReport(f *testing.F) {
	f.Add("app@sender.example", "gone@dest.example", "RFC822;gone@dest.example", "mx.dest.example", "550 5.1.1 no such user", "5.1.1", "order-1", []byte(asciiOriginal), uint8(0))
	f.Add("app@sender.example", "müller@empfänger.example", "UTF-8;müller@empfänger.example", "", "SMTPUTF8 is required", "5.6.7", "", []byte(utf8Original), uint8(5))
	f.Add("jörg@absender.example", "a@b.example", "", "mx.b.example", "451 4.2.2 full\r\nX-Evil: 1", "4.2.2", "", []byte("Subject: x\r\n\r\n\xff\xfe\r\n"), uint8(10))
	f.Add("a@b", "c@d", "utf-8;\\x{FC}@d", "h", "", "", "", []byte(nil), uint8(7))
	f.Fuzz(func(t *testing.T, to, addr, orcpt, remote, response, status, envid string, original []byte, mode uint8) {
		kinds := []Kind{Failure, Delay, Success}
		actions := []Action{Failed, Delayed, Delivered, Relayed}
		r := base()
		r.Kind = kinds[int(mode)%len(kinds)]
		r.To, r.EnvelopeID, r.Original = to, envid, crlf(original)
		r.Return = Return(int(mode/3) % 3)
		rc := Recipient{Addr: addr, ORCPT: orcpt, Action: actions[int(mode/9)%len(actions)], Status: status,
			RemoteMTA: remote, Response: response, LastAttempt: tried, WillRetryUntil: arrival}
		r.Recipients = []Recipient{rc, {Addr: "second@example", Action: Failed}}
		msg, err := r.Bytes()
		if err != nil {
			return
		}
		checkWellFormed(t, &r, msg)
	})
}

// crlf gives original the CRLF line ends that submission guarantees for
// every queued body (it refuses bare CR and LF).
func crlf(b []byte) []byte {
	if b == nil {
		return nil
	}
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	b = bytes.ReplaceAll(b, []byte("\r"), []byte("\n"))
	return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
}
