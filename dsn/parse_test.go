package dsn

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/textproto"
	"strings"
	"testing"

	"github.com/mxout/mxout/internal/mailtext"
)

// parsed is a report taken apart the way a receiving program would.
type parsed struct {
	header             textproto.MIMEHeader
	text               []byte
	statusType         string
	status             []byte
	perMessage         textproto.MIMEHeader
	perRecipient       []textproto.MIMEHeader
	originalType       string
	original           []byte // decoded
	originalEncoded    []byte
	originalEncoding   string
	textContentType    string
	textTransferEncode string
}

// checkWellFormed parses msg with mime/multipart and net/textproto and
// checks what every report must satisfy, whatever its input.
func checkWellFormed(t testing.TB, r *Report, msg []byte) parsed {
	t.Helper()
	var p parsed
	for i, line := range bytes.Split(msg, []byte("\r\n")) {
		if bytes.IndexByte(line, '\n') >= 0 || bytes.IndexByte(line, '\r') >= 0 {
			t.Fatalf("line %d has a bare CR or LF: %q", i, line)
		}
	}
	if !r.NeedsSMTPUTF8() && !mailtext.IsASCII(string(msg)) {
		t.Fatalf("report to an ASCII address is not 7-bit:\n%s", msg)
	}
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(msg)))
	h, err := tp.ReadMIMEHeader()
	if err != nil {
		t.Fatalf("report header: %v\n%s", err, msg)
	}
	p.header = h
	for _, f := range []string{"Date", "From", "To", "Subject", "Message-Id", "Auto-Submitted", "Mime-Version", "Content-Type"} {
		if len(h[f]) != 1 {
			t.Errorf("header %s appears %d times, want once", f, len(h[f]))
		}
	}
	if want := "MAILER-DAEMON@" + r.ReportingMTA + ">"; !strings.HasSuffix(h.Get("From"), want) {
		t.Errorf("From = %q, want MAILER-DAEMON@%s", h.Get("From"), r.ReportingMTA)
	}
	if h.Get("Auto-Submitted") != "auto-replied" {
		t.Errorf("Auto-Submitted = %q", h.Get("Auto-Submitted"))
	}
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt != "multipart/report" {
		t.Fatalf("Content-Type %q: %v", h.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(tp.R, params["boundary"])
	var parts [][]byte
	var headers []textproto.MIMEHeader
	for {
		part, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("part %d: %v", len(parts)+1, err)
		}
		b, err := io.ReadAll(part)
		if err != nil {
			t.Fatalf("part %d: %v", len(parts)+1, err)
		}
		parts = append(parts, b)
		headers = append(headers, part.Header)
	}
	wantParts := 3
	if r.Original == nil || r.Return == ReturnNothing {
		wantParts = 2
	}
	if len(parts) != wantParts {
		t.Fatalf("%d parts, want %d", len(parts), wantParts)
	}
	for i := 0; i < 2; i++ {
		for _, line := range bytes.Split(parts[i], []byte("\r\n")) {
			if len(line) > 998 {
				t.Errorf("part %d has a line of %d octets", i+1, len(line))
			}
		}
	}

	p.textContentType, p.textTransferEncode = headers[0].Get("Content-Type"), headers[0].Get("Content-Transfer-Encoding")
	if !strings.HasPrefix(p.textContentType, "text/plain") {
		t.Errorf("part 1 is %q, want text/plain", p.textContentType)
	}
	p.text = parts[0]
	if p.textTransferEncode == "quoted-printable" {
		if p.text, err = io.ReadAll(quotedprintable.NewReader(bytes.NewReader(parts[0]))); err != nil {
			t.Errorf("part 1 quoted-printable: %v", err)
		}
	}

	p.statusType = headers[1].Get("Content-Type")
	if p.statusType != "message/delivery-status" && p.statusType != "message/global-delivery-status" {
		t.Fatalf("part 2 is %q", p.statusType)
	}
	if rt := params["report-type"]; "message/"+rt != p.statusType {
		t.Errorf("report-type=%s but part 2 is %s (RFC 6522 §3)", rt, p.statusType)
	}
	p.status = parts[1]
	blocks := strings.Split(strings.TrimSuffix(string(parts[1]), "\r\n"), "\r\n\r\n")
	for i, block := range blocks {
		fields, err := textproto.NewReader(bufio.NewReader(strings.NewReader(block + "\r\n\r\n"))).ReadMIMEHeader()
		if err != nil {
			t.Fatalf("status block %d: %v\n%s", i, err, block)
		}
		if i == 0 {
			p.perMessage = fields
			continue
		}
		p.perRecipient = append(p.perRecipient, fields)
	}
	if !strings.HasPrefix(p.perMessage.Get("Reporting-Mta"), "dns; ") {
		t.Errorf("Reporting-MTA = %q", p.perMessage.Get("Reporting-Mta"))
	}
	if len(p.perRecipient) != len(r.Recipients) {
		t.Fatalf("%d recipient blocks, want %d:\n%s", len(p.perRecipient), len(r.Recipients), parts[1])
	}
	for i, f := range p.perRecipient {
		for _, name := range []string{"Final-Recipient", "Action", "Status"} {
			if len(f[name]) != 1 {
				t.Errorf("recipient %d: %s appears %d times", i, name, len(f[name]))
			}
		}
		if f.Get("Action") != string(r.Recipients[i].Action) {
			t.Errorf("recipient %d: Action %q, want %q", i, f.Get("Action"), r.Recipients[i].Action)
		}
	}

	if wantParts == 3 {
		p.originalType, p.originalEncoding = headers[2].Get("Content-Type"), headers[2].Get("Content-Transfer-Encoding")
		p.originalEncoded, p.original = parts[2], parts[2]
		if p.originalEncoding == "base64" {
			dec, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(string(parts[2]), "\r\n", ""))
			if err != nil {
				t.Fatalf("part 3 base64: %v", err)
			}
			p.original = dec
		}
		want := r.Original
		if r.Return == ReturnHeaders {
			want = headerBlock(r.Original)
		}
		if p.originalEncoding != "base64" {
			want = withCRLF(want) // the line end before the boundary
		}
		if !bytes.Equal(p.original, want) {
			t.Errorf("part 3 (%s, %s) does not return the original:\n got %q\nwant %q", p.originalType, p.originalEncoding, p.original, want)
		}
	}
	return p
}
