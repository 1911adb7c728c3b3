package api

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"

	"github.com/mxout/mxout/internal/mailtext"
)

// render writes the message: text alone, html alone, or both as
// multipart/alternative; with attachments, that inside multipart/mixed.
func (b *built) render(msgID string, now time.Time) ([]byte, error) {
	var buf bytes.Buffer
	h := &headerWriter{buf: &buf}
	h.addresses("From", []*mail.Address{b.from})
	h.addresses("To", b.to)
	h.addresses("Cc", b.cc)
	if b.replyTo != nil {
		h.addresses("Reply-To", []*mail.Address{b.replyTo})
	}
	if b.subject != "" {
		h.text("Subject", b.subject)
	}
	h.raw("Date", date(now))
	h.raw("Message-ID", msgID)
	h.raw("MIME-Version", "1.0")
	for _, f := range b.headers {
		h.text(f[0], f[1])
	}
	if len(b.attachments) == 0 {
		if err := b.writeContent(h, &buf); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	mw := multipart.NewWriter(&buf)
	h.raw("Content-Type", mime.FormatMediaType("multipart/mixed", map[string]string{"boundary": mw.Boundary()}))
	buf.WriteString("\r\n")
	if b.text != "" || b.html != "" {
		if err := b.writeContentPart(mw); err != nil {
			return nil, err
		}
	}
	for _, f := range b.attachments {
		if err := writeAttachment(mw, f); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeContent ends the message header with the text content's fields
// and writes the content: the message without attachments.
func (b *built) writeContent(h *headerWriter, buf *bytes.Buffer) error {
	if b.text != "" && b.html != "" {
		mw := multipart.NewWriter(buf)
		h.raw("Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mw.Boundary()}))
		buf.WriteString("\r\n")
		return writeAlternatives(mw, b.text, b.html)
	}
	typ, content := "text/plain", b.text
	if b.text == "" {
		typ, content = "text/html", b.html
	}
	body, cte := encodeText(content)
	h.raw("Content-Type", typ+"; charset=utf-8")
	h.raw("Content-Transfer-Encoding", cte)
	buf.WriteString("\r\n")
	buf.Write(body)
	return nil
}

// writeContentPart writes the text content as the first part of mixed.
func (b *built) writeContentPart(mixed *multipart.Writer) error {
	if b.text != "" && b.html != "" {
		var inner bytes.Buffer
		mw := multipart.NewWriter(&inner)
		if err := writeAlternatives(mw, b.text, b.html); err != nil {
			return err
		}
		w, err := mixed.CreatePart(textproto.MIMEHeader{
			"Content-Type": {mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mw.Boundary()})},
		})
		if err != nil {
			return err
		}
		_, err = w.Write(inner.Bytes())
		return err
	}
	if b.text != "" {
		return writeTextPart(mixed, "text/plain", b.text)
	}
	return writeTextPart(mixed, "text/html", b.html)
}

func writeAlternatives(mw *multipart.Writer, text, html string) error {
	// RFC 2046 5.1.4: the preferred alternative comes last.
	if err := writeTextPart(mw, "text/plain", text); err != nil {
		return err
	}
	if err := writeTextPart(mw, "text/html", html); err != nil {
		return err
	}
	return mw.Close()
}

func writeTextPart(mw *multipart.Writer, typ, content string) error {
	body, cte := encodeText(content)
	w, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {typ + "; charset=utf-8"},
		"Content-Transfer-Encoding": {cte},
	})
	if err != nil {
		return err
	}
	_, err = w.Write(body)
	return err
}

func writeAttachment(mw *multipart.Writer, f file) error {
	disposition := "attachment"
	if f.name != "" {
		disposition = mime.FormatMediaType("attachment", map[string]string{"filename": f.name})
	}
	w, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {f.contentType},
		"Content-Disposition":       {disposition},
		"Content-Transfer-Encoding": {"base64"},
	})
	if err != nil {
		return err
	}
	return writeBase64(w, f.data)
}

// writeBase64 writes data in base64 lines of 76 characters (RFC 2045 6.8).
func writeBase64(w io.Writer, data []byte) error {
	const perLine = 57 // bytes that encode to 76 characters
	line := make([]byte, base64.StdEncoding.EncodedLen(perLine)+2)
	for len(data) > 0 {
		n := min(perLine, len(data))
		m := base64.StdEncoding.EncodedLen(n)
		base64.StdEncoding.Encode(line, data[:n])
		line[m], line[m+1] = '\r', '\n'
		if _, err := w.Write(line[:m+2]); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

// encodeText returns text with CRLF line ends and its transfer encoding:
// 7bit when it is ASCII with lines of at most 998 octets, quoted-printable
// otherwise. Any line end (CRLF, LF, CR) becomes CRLF; the text ends with
// one.
func encodeText(text string) ([]byte, string) {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = strings.ReplaceAll(text, "\r", "\n")
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	plain := mailtext.IsASCII(text) && !strings.ContainsRune(text, 0)
	for _, l := range lines {
		plain = plain && len(l) <= 998
	}
	var buf bytes.Buffer
	buf.Grow(len(text) + len(lines))
	if plain {
		for _, l := range lines {
			buf.WriteString(l)
			buf.WriteString("\r\n")
		}
		return buf.Bytes(), "7bit"
	}
	qp := quotedprintable.NewWriter(&buf)
	for i, l := range lines {
		if i > 0 {
			qp.Write([]byte("\r\n")) // a hard line break
		}
		qp.Write([]byte(l))
	}
	qp.Close()
	buf.WriteString("\r\n")
	return buf.Bytes(), "quoted-printable"
}
