package tlsrpt_test

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/mxout/mxout/tlsrpt"
)

// parsed is a report message taken apart as a receiver would.
type parsed struct {
	header   mail.Header
	text     string
	filename string
	report   tlsrpt.Report
}

// parseMessage reads a report message: the multipart/report, its text
// part and its gzipped JSON attachment.
func parseMessage(t *testing.T, msg []byte) parsed {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		t.Fatalf("read message: %v", err)
	}
	var p parsed
	p.header = m.Header
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "tlsrpt" {
		t.Fatalf("Content-Type %q: %v", m.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for i := 0; ; i++ {
		part, err := mr.NextRawPart()
		if err == io.EOF {
			if i != 2 {
				t.Fatalf("%d parts, want 2", i)
			}
			return p
		}
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		body, _ := io.ReadAll(part)
		ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		switch {
		case i == 0 && ct == "text/plain":
			p.text = string(body)
		case i == 1 && ct == "application/tlsrpt+gzip":
			if part.Header.Get("Content-Transfer-Encoding") != "base64" {
				t.Fatalf("attachment encoding %q", part.Header.Get("Content-Transfer-Encoding"))
			}
			_, dp, err := mime.ParseMediaType(part.Header.Get("Content-Disposition"))
			if err != nil {
				t.Fatal(err)
			}
			p.filename = dp["filename"]
			for _, line := range strings.Split(string(body), "\r\n") {
				if len(line) > 76 {
					t.Fatalf("base64 line of %d octets", len(line))
				}
			}
			gz, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(string(body), "\r\n", ""))
			if err != nil {
				t.Fatal(err)
			}
			zr, err := gzip.NewReader(bytes.NewReader(gz))
			if err != nil {
				t.Fatal(err)
			}
			js, err := io.ReadAll(zr)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(js, &p.report); err != nil {
				t.Fatalf("report JSON %s: %v", js, err)
			}
		default:
			t.Fatalf("part %d is %s", i, ct)
		}
	}
}

func TestMessage(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	rep := &tlsrpt.Report{
		OrganizationName: "Example Org",
		DateRange:        tlsrpt.DateRange{Start: start, End: start.Add(24 * time.Hour)},
		ContactInfo:      "tls-reports@relay.example",
		ReportID:         "20261202T000000Z.0011@relay.example",
		Policies: []tlsrpt.PolicyResults{{
			Policy:  tlsrpt.PolicyDesc{Type: tlsrpt.PolicySTS, String: []string{"version: STSv1", "mode: enforce", "mx: mx.dest.example", "max_age: 86400"}, Domain: "dest.example", MXHost: []string{"mx.dest.example"}},
			Summary: tlsrpt.Summary{Successful: 10, Failed: 2},
			FailureDetails: []tlsrpt.FailureDetail{{
				ResultType: tlsrpt.CertificateExpired, SendingMTAIP: "192.0.2.1", ReceivingMXHostname: "mx.dest.example",
				ReceivingIP: "198.51.100.7", FailedSessionCount: 2, FailureReasonCode: "x509: certificate has expired",
			}},
		}},
	}
	gz, err := rep.Gzip()
	if err != nil {
		t.Fatal(err)
	}
	msg, err := tlsrpt.Message(rep, gz, "dest.example", "relay.example", "tlsrpt-noreply@relay.example", []string{"rua@dest.example"}, start.Add(25*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	p := parseMessage(t, msg)
	if got, want := p.header.Get("Subject"), "Report Domain: dest.example Submitter: relay.example Report-ID: <20261202T000000Z.0011@relay.example>"; got != want {
		t.Errorf("Subject = %q, want %q", got, want)
	}
	for k, want := range map[string]string{
		"TLS-Report-Domain": "dest.example", "TLS-Report-Submitter": "relay.example", "From": "tlsrpt-noreply@relay.example",
		"To": "rua@dest.example", "MIME-Version": "1.0", "Message-Id": "<20261202T000000Z.0011@relay.example>",
	} {
		if got := p.header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if want := "relay.example!dest.example!1796083200!1796169600.json.gz"; p.filename != want {
		t.Errorf("filename = %q, want %q", p.filename, want)
	}
	if !strings.Contains(p.text, "aggregate TLS report") {
		t.Errorf("text part = %q", p.text)
	}
	got, _ := json.Marshal(p.report)
	want, _ := json.Marshal(rep)
	if !bytes.Equal(got, want) {
		t.Errorf("report read back:\n%s\nwant\n%s", got, want)
	}
	// The JSON has the RFC's field names and UTC times to the second.
	js, _ := json.Marshal(rep)
	for _, field := range []string{`"organization-name":"Example Org"`, `"start-datetime":"2026-12-01T00:00:00Z"`, `"policy-type":"sts"`,
		`"total-successful-session-count":10`, `"result-type":"certificate-expired"`, `"failed-session-count":2`, `"mx-host":["mx.dest.example"]`} {
		if !strings.Contains(string(js), field) {
			t.Errorf("report JSON lacks %s: %s", field, js)
		}
	}
}
