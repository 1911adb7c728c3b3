package api

import (
	"bytes"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/mxout/mxout/internal/mailtext"
	"github.com/mxout/mxout/queue"
	"github.com/mxout/mxout/submission"
)

// envelope collects the recipients of a request without duplicates
// (compared without case) and whether any address needs SMTPUTF8.
type envelope struct {
	to   []string
	seen map[string]bool
	utf8 bool
}

func (e *envelope) add(addr string) {
	if e.seen == nil {
		e.seen = map[string]bool{}
	}
	if k := strings.ToLower(addr); !e.seen[k] {
		e.seen[k] = true
		e.to = append(e.to, addr)
	}
}

// checkAddress applies SMTP submission's rules to a bare address.
func (e *envelope) checkAddress(field, addr string) error {
	if err := submission.CheckAddress(addr, true); err != nil {
		return badRequest(field, "%q: %v", addr, err)
	}
	if !mailtext.IsASCII(addr) {
		e.utf8 = true
	}
	return nil
}

// parseMailbox reads one address, with or without a display name
// ("Ann <ann@example.com>").
func (e *envelope) parseMailbox(field, s string) (*mail.Address, error) {
	if strings.TrimSpace(s) == "" {
		return nil, badRequest(field, "missing")
	}
	if len(s) > maxAddressText {
		return nil, badRequest(field, "longer than %d bytes", maxAddressText)
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, badRequest(field, "%q is not an address: %v", s, err)
	}
	if strings.ContainsFunc(a.Name, isControl) {
		return nil, badRequest(field, "the display name has control characters")
	}
	if err := e.checkAddress(field, a.Address); err != nil {
		return nil, err
	}
	return a, nil
}

// parseMailboxes reads a list field (to, cc, bcc) and adds it to the
// recipients.
func (e *envelope) parseMailboxes(field string, list []string) ([]*mail.Address, error) {
	out := make([]*mail.Address, 0, len(list))
	for i, s := range list {
		a, err := e.parseMailbox(fmt.Sprintf("%s[%d]", field, i), s)
		if err != nil {
			return nil, err
		}
		e.add(a.Address)
		out = append(out, a)
	}
	return out, nil
}

// rawMessage checks the raw shape and returns its Message. The message is
// kept byte for byte, except that a message written with bare LF line ends
// gets CRLF, and a missing final line end is added (SMTP needs both).
func (s *Server) rawMessage(req *sendRequest, id queue.ID) (*Message, error) {
	var env envelope
	if req.EnvelopeFrom == "" {
		return nil, badRequest("envelope_from", "missing")
	}
	if err := env.checkAddress("envelope_from", req.EnvelopeFrom); err != nil {
		return nil, err
	}
	if len(req.Recipients) == 0 {
		return nil, badRequest("recipients", "missing: at least one recipient")
	}
	for i, r := range req.Recipients {
		if err := env.checkAddress(fmt.Sprintf("recipients[%d]", i), r); err != nil {
			return nil, err
		}
		env.add(r)
	}
	if len(env.to) > s.cfg.MaxRecipients {
		return nil, badRequest("recipients", "more than %d recipients", s.cfg.MaxRecipients)
	}
	if req.Raw == "" {
		return nil, badRequest("raw", "missing")
	}
	body, err := crlf([]byte(req.Raw))
	if err != nil {
		return nil, badRequest("raw", "%v", err)
	}
	if int64(len(body)) > s.cfg.MaxMessageBytes {
		return nil, tooBig("raw", len(body), s.cfg.MaxMessageBytes)
	}
	return &Message{
		ID: id, From: req.EnvelopeFrom, To: env.to, Body: body, Raw: true,
		UTF8: env.utf8,
	}, nil
}

// crlf returns msg with CRLF line ends: unchanged when every LF already
// follows a CR; bare LFs become CRLF; a bare CR is refused, as SMTP
// submission refuses it. A final line end is added when missing.
func crlf(msg []byte) ([]byte, error) {
	for i, c := range msg {
		if c == '\r' && (i+1 == len(msg) || msg[i+1] != '\n') {
			return nil, errors.New("a bare CR (not followed by LF); line ends must be CRLF or LF")
		}
	}
	if bytes.Count(msg, []byte("\n")) != bytes.Count(msg, []byte("\r\n")) {
		var b bytes.Buffer
		b.Grow(len(msg) + len(msg)/32)
		for i, c := range msg {
			if c == '\n' && (i == 0 || msg[i-1] != '\r') {
				b.WriteByte('\r')
			}
			b.WriteByte(c)
		}
		msg = b.Bytes()
	}
	if !bytes.HasSuffix(msg, []byte("\r\n")) {
		msg = append(msg, '\r', '\n')
	}
	return msg, nil
}

func tooBig(field string, n int, limit int64) *Error {
	return &Error{Status: 413, Field: field, Message: fmt.Sprintf("the message is %d bytes; the limit is %d", n, limit)}
}

// messageID is the Message-ID the relay gives a message it builds, the
// one SMTP submission adds to a message without one.
func messageID(id queue.ID, hostname string) string {
	return "<" + string(id) + "@" + hostname + ">"
}

// date is the Date field's value (RFC 5322 3.3).
func date(t time.Time) string { return t.Format(time.RFC1123Z) }
