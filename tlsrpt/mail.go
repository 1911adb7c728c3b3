package tlsrpt

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"mime"
	"mime/multipart"
	"net/textproto"
	"strings"
	"time"
)

// Message is the mail that carries a report to mailto: addresses (RFC
// 8460 §5.3): a multipart/report of report-type tlsrpt, with a short text
// and the gzipped report as an application/tlsrpt+gzip attachment, the
// TLS-Report-Domain and TLS-Report-Submitter fields, and the subject
// "Report Domain: <domain> Submitter: <submitter> Report-ID: <<id>>".
// Lines end in CRLF.
func Message(r *Report, gz []byte, domain, submitter, from string, to []string, date time.Time) ([]byte, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	text, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {`text/plain; charset="us-ascii"`},
		"Content-Transfer-Encoding": {"7bit"},
	})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(text, "This is an aggregate TLS report from %s for %s,\r\nfrom %s to %s (RFC 8460).\r\n",
		submitter, domain, r.DateRange.Start.UTC().Format(time.RFC3339), r.DateRange.End.UTC().Format(time.RFC3339))
	name := r.Filename(submitter, domain)
	att, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {mime.FormatMediaType("application/tlsrpt+gzip", map[string]string{"name": name})},
		"Content-Transfer-Encoding": {"base64"},
		"Content-Disposition":       {mime.FormatMediaType("attachment", map[string]string{"filename": name})},
	})
	if err != nil {
		return nil, err
	}
	b64 := base64.StdEncoding.EncodeToString(gz)
	for len(b64) > 76 {
		fmt.Fprintf(att, "%s\r\n", b64[:76])
		b64 = b64[76:]
	}
	fmt.Fprintf(att, "%s\r\n", b64)
	if err := mw.Close(); err != nil {
		return nil, err
	}

	var m bytes.Buffer
	h := func(name, value string) { fmt.Fprintf(&m, "%s: %s\r\n", name, value) }
	h("From", from)
	h("To", strings.Join(to, ", "))
	h("Date", date.Format(time.RFC1123Z))
	h("Message-ID", "<"+r.ReportID+">")
	// Folded as in the RFC's example; unfolded, it is the subject of §5.3.
	h("Subject", "Report Domain: "+domain+"\r\n Submitter: "+submitter+"\r\n Report-ID: <"+r.ReportID+">")
	h("TLS-Report-Domain", domain)
	h("TLS-Report-Submitter", submitter)
	h("Auto-Submitted", "auto-generated")
	h("MIME-Version", "1.0")
	h("Content-Type", mime.FormatMediaType("multipart/report", map[string]string{"report-type": "tlsrpt", "boundary": mw.Boundary()}))
	m.WriteString("\r\n")
	m.Write(body.Bytes())
	return m.Bytes(), nil
}

// newReportID makes a report ID unique to this submitter: the window's end
// and random bits, at the submitter's name.
func newReportID(end time.Time, submitter string) string {
	var b [8]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s.%s@%s", end.UTC().Format("20060102T150405Z"), hex.EncodeToString(b[:]), submitter)
}
