package dsn

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var (
	arrival = time.Date(2026, 3, 2, 9, 15, 0, 0, time.UTC)
	tried   = time.Date(2026, 3, 2, 9, 15, 4, 0, time.UTC)
	made    = time.Date(2026, 3, 2, 9, 15, 5, 0, time.UTC)
)

const asciiOriginal = "Received: from client.example ([192.0.2.7]) by relay.example.org\r\n" +
	"\twith ESMTP id 0123456789abcdefghij; Mon, 02 Mar 2026 09:15:00 +0000\r\n" +
	"From: App <app@sender.example>\r\n" +
	"To: gone@dest.example, nomail@nullmx.example\r\n" +
	"Subject: Your receipt\r\n" +
	"Message-ID: <receipt-42@sender.example>\r\n" +
	"Date: Mon, 02 Mar 2026 09:14:59 +0000\r\n" +
	"\r\n" +
	"Thank you for your order.\r\n"

// utf8Original is an SMTPUTF8 message: UTF-8 in headers and body.
const utf8Original = "From: Jörg <jörg@absender.example>\r\n" +
	"To: Müller <müller@empfänger.example>\r\n" +
	"Subject: Grüße\r\n" +
	"Message-ID: <gruss-1@absender.example>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: 8bit\r\n" +
	"\r\n" +
	"Schöne Grüße aus Köln.\r\n"

func base() Report {
	return Report{
		Kind: Failure, ReportingMTA: "relay.example.org", To: "app@sender.example",
		MessageID: "0123456789klmnopqrst@relay.example.org", Date: made,
		QueueID: "0123456789abcdefghij", Arrival: arrival,
	}
}

var gone = Recipient{
	Addr: "gone@dest.example", ORCPT: "RFC822;customer+42@sender.example", Action: Failed, Status: "5.1.1",
	RemoteMTA: "mx1.dest.example", Response: "550 5.1.1 <gone@dest.example>: Recipient address rejected: User unknown in virtual mailbox table",
	LastAttempt: tried,
}

var nullMX = Recipient{
	Addr: "nomail@nullmx.example", Action: Failed, Status: "5.1.10",
	Response: "domain nullmx.example accepts no mail (null MX)", LastAttempt: tried,
}

var goldenCases = []struct {
	name string
	edit func(r *Report)
}{
	{"failure_full_envid_orcpt_two_recipients", func(r *Report) {
		r.EnvelopeID, r.Original, r.Return = "order-42", []byte(asciiOriginal), ReturnFull
		r.Recipients = []Recipient{gone, nullMX}
	}},
	{"failure_headers_expired", func(r *Report) {
		r.Original, r.Return = []byte(asciiOriginal), ReturnHeaders
		r.Note = "The message was larger than 50000 bytes, so only its headers are attached."
		r.Recipients = []Recipient{{
			Addr: "slow@dest.example", Action: Failed, Status: "5.4.7", RemoteMTA: "mx1.dest.example",
			Response: "delivery time expired; last error: 451 4.7.1 Greylisted, try again later", LastAttempt: tried,
		}}
	}},
	{"delay_headers_envid", func(r *Report) {
		r.Kind, r.EnvelopeID, r.Original, r.Return = Delay, "order-42", []byte(asciiOriginal), ReturnHeaders
		until := arrival.Add(120 * time.Hour)
		r.Recipients = []Recipient{
			{Addr: "busy@dest.example", ORCPT: "rfc822;busy@dest.example", Action: Delayed, Status: "4.2.2", RemoteMTA: "mx1.dest.example",
				Response: "452 4.2.2 Mailbox full", LastAttempt: tried, WillRetryUntil: until},
			{Addr: "down@other.example", Action: Delayed, Status: "4.4.1",
				Response: "connection failed: dial tcp 192.0.2.25:25: connect: connection refused", LastAttempt: tried, WillRetryUntil: until},
		}
	}},
	{"delay_full", func(r *Report) {
		r.Kind, r.Original, r.Return = Delay, []byte(asciiOriginal), ReturnFull
		r.Recipients = []Recipient{{Addr: "busy@dest.example", Action: Delayed, Status: "4.2.2", RemoteMTA: "mx1.dest.example",
			Response: "452 4.2.2 Mailbox full", LastAttempt: tried, WillRetryUntil: arrival.Add(120 * time.Hour)}}
	}},
	{"success_relayed_headers", func(r *Report) {
		r.Kind, r.EnvelopeID, r.Original, r.Return = Success, "order-42", []byte(asciiOriginal), ReturnHeaders
		r.Recipients = []Recipient{{Addr: "ok@dest.example", ORCPT: "RFC822;ok@dest.example", Action: Relayed, Status: "2.0.0",
			RemoteMTA: "mx1.dest.example", Response: "250 2.0.0 Ok: queued as 4XyZ", LastAttempt: tried}}
	}},
	{"success_delivered_full", func(r *Report) {
		r.Kind, r.Original, r.Return = Success, []byte(asciiOriginal), ReturnFull
		r.Recipients = []Recipient{{Addr: "ok@dest.example", Action: Delivered, Status: "2.0.0",
			RemoteMTA: "mx1.dest.example", Response: "250 2.0.0 Ok", LastAttempt: tried}}
	}},
	{"failure_smtputf8_original_ascii_sender", func(r *Report) {
		r.Original, r.Return = []byte(utf8Original), ReturnFull
		r.Recipients = []Recipient{{Addr: "müller@empfänger.example", ORCPT: "UTF-8;müller@empfänger.example", Action: Failed,
			Status: "5.1.1", RemoteMTA: "mx.empfaenger.example", Response: "550 5.1.1 Unbekannter Empfänger müller", LastAttempt: tried}}
	}},
	{"failure_smtputf8_original_headers", func(r *Report) {
		r.Original, r.Return = []byte(utf8Original), ReturnHeaders
		r.Recipients = []Recipient{{Addr: "müller@empfänger.example", Action: Failed, Status: "5.6.7",
			RemoteMTA: "mx.empfaenger.example", Response: "SMTPUTF8 is required, but was not offered by host mx.empfaenger.example", LastAttempt: tried}}
	}},
	{"failure_smtputf8_utf8_sender", func(r *Report) {
		r.To, r.Original, r.Return = "jörg@absender.example", []byte(utf8Original), ReturnFull
		r.Recipients = []Recipient{{Addr: "müller@empfänger.example", ORCPT: "UTF-8;müller@empfänger.example", Action: Failed,
			Status: "5.1.1", RemoteMTA: "mx.empfaenger.example", Response: "550 5.1.1 Unbekannter Empfänger müller", LastAttempt: tried}}
	}},
	{"failure_8bitmime_body", func(r *Report) {
		r.Original, r.Return = []byte("From: app@sender.example\r\nSubject: receipt\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\nK\xf6ln\r\n"), ReturnFull
		r.Recipients = []Recipient{gone}
	}},
	{"postmaster_copy_no_original", func(r *Report) {
		r.To, r.ToPostmaster = "postmaster@sender.example", true
		r.Recipients = []Recipient{{Addr: "app@sender.example", Action: Failed, Status: "5.4.4",
			Response: "unable to route: sender.example: no such domain (NXDOMAIN)", LastAttempt: tried}}
	}},
}

func TestBytes_Golden(t *testing.T) {
	t.Parallel()
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := base()
			tc.edit(&r)
			got, err := r.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			checkWellFormed(t, &r, got)
			path := filepath.Join("testdata", tc.name+".eml")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./dsn -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("report differs from %s (go test ./dsn -update rewrites it):\n%s", path, got)
			}
		})
	}
}

func TestBytes_Refuses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		edit func(r *Report)
		want string
	}{
		{"no recipients", func(r *Report) { r.Recipients = nil }, "no recipients"},
		{"no report recipient", func(r *Report) { r.To = "\r\n" }, "no recipient for the report"},
		{"bad kind", func(r *Report) { r.Kind = "bogus" }, "unknown kind"},
		{"bad host", func(r *Report) { r.ReportingMTA = "a b" }, "not a host name"},
		{"no message id", func(r *Report) { r.MessageID = "" }, "no Message-ID"},
		{"empty recipient", func(r *Report) { r.Recipients[0].Addr = " " }, "recipient 0 has no address"},
		{"bad action", func(r *Report) { r.Recipients[0].Action = "expanded" }, "unknown action"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := base()
			r.Recipients = []Recipient{gone}
			tc.edit(&r)
			if _, err := r.Bytes(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestStatusCode_FitsTheAction(t *testing.T) {
	t.Parallel()
	cases := []struct {
		status string
		action Action
		want   string
	}{
		{"5.1.1", Failed, "5.1.1"},
		{"5.1.10", Failed, "5.1.10"},
		{"4.2.2", Failed, "5.0.0"},
		{"", Failed, "5.0.0"},
		{"4.4.1", Delayed, "4.4.1"},
		{"5.4.7", Delayed, "4.0.0"},
		{"2.0.0", Relayed, "2.0.0"},
		{"2.6.0", Delivered, "2.6.0"},
		{"5.1.1; drop", Failed, "5.0.0"},
		{"5.1234.1", Failed, "5.0.0"},
	}
	for _, tc := range cases {
		if got := statusCode(tc.status, tc.action); got != tc.want {
			t.Errorf("statusCode(%q, %s) = %q, want %q", tc.status, tc.action, got, tc.want)
		}
	}
}

func TestTypedAddr(t *testing.T) {
	t.Parallel()
	cases := []struct {
		addr   string
		global bool
		want   string
	}{
		{"a@b.example", false, "rfc822; a@b.example"},
		{"jörg@b.example", false, `utf-8; j\x{F6}rg@b.example`},
		{"jörg@b.example", true, "utf-8; jörg@b.example"},
		{"用户@例子.广告", false, `utf-8; \x{7528}\x{6237}@\x{4F8B}\x{5B50}.\x{5E7F}\x{544A}`},
		{"a+b=c\\ö@x", false, `utf-8; a\x{2B}b\x{3D}c\x{5C}\x{F6}@x`},
		{"a@b\r\nX-Injected: 1", false, "rfc822; a@b X-Injected: 1"},
	}
	for _, tc := range cases {
		if got := typedAddr(tc.addr, tc.global); got != tc.want {
			t.Errorf("typedAddr(%q, %v) = %q, want %q", tc.addr, tc.global, got, tc.want)
		}
	}
}

func TestTypedORCPT(t *testing.T) {
	t.Parallel()
	cases := []struct {
		orcpt  string
		global bool
		want   string
		ok     bool
	}{
		{"RFC822;a@b.example", false, "rfc822; a@b.example", true},
		{"rfc822;a@b.example", false, "rfc822; a@b.example", true},
		{"UTF-8;jörg@b.example", false, `utf-8; j\x{F6}rg@b.example`, true},
		{"UTF-8;jörg@b.example", true, "utf-8; jörg@b.example", true},
		{"UTF-8;a@b.example", false, "utf-8; a@b.example", true},
		{"X400;whatever", false, "", false},
		{"RFC822;", false, "", false},
		{"no-type", false, "", false},
		{"", false, "", false},
	}
	for _, tc := range cases {
		got, ok := typedORCPT(tc.orcpt, tc.global)
		if got != tc.want || ok != tc.ok {
			t.Errorf("typedORCPT(%q, %v) = %q, %v; want %q, %v", tc.orcpt, tc.global, got, ok, tc.want, tc.ok)
		}
	}
}

func TestBytes_HostileInputStaysInItsField(t *testing.T) {
	t.Parallel()
	r := base()
	r.Original, r.Return = []byte("Subject: x\r\n\r\n--=_mxout_0123456789klmnopqrst.relay.example.org\r\nbody\r\n"), ReturnFull
	r.Recipients = []Recipient{{
		Addr: "a@b.example", Action: Failed, Status: "5.0.0", RemoteMTA: "mx.b.example\r\nX-Evil: 1",
		Response: "550 bad\r\n\r\nFinal-Recipient: rfc822; forged@x " + strings.Repeat("long ", 400),
	}}
	got, err := r.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	p := checkWellFormed(t, &r, got)
	if f := p.perRecipient[0]; f.Get("Final-Recipient") != "rfc822; a@b.example" || !strings.Contains(f.Get("Diagnostic-Code"), "forged@x") {
		t.Errorf("a reply escaped its field:\n%s", p.status)
	}
	if strings.Contains(string(got), "\r\nX-Evil") {
		t.Errorf("a host name injected a header:\n%s", got)
	}
	if !bytes.Equal(p.original, r.Original) {
		t.Errorf("original containing the boundary was not returned intact:\n%q", p.original)
	}
}
