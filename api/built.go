package api

import (
	"encoding/base64"
	"fmt"
	"mime"
	"net/mail"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/mxout/mxout/internal/header"
	"github.com/mxout/mxout/queue"
)

// built is a checked request of the built shape.
type built struct {
	from        *mail.Address
	to, cc      []*mail.Address
	replyTo     *mail.Address
	subject     string
	text, html  string
	headers     [][2]string // name, value; sorted by name
	attachments []file
}

// file is a decoded attachment.
type file struct {
	name        string
	contentType string // with its parameters, as given or guessed
	data        []byte
}

// reservedHeaders are set by the builder (or by fields of the request),
// never from "headers".
var reservedHeaders = []string{
	"from", "to", "cc", "bcc", "reply-to", "subject", "date", "message-id", "mime-version",
	"content-type", "content-transfer-encoding", "content-disposition", "return-path", "received", "dkim-signature",
}

// builtMessage checks the built shape and builds its MIME message.
func (s *Server) builtMessage(req *sendRequest, id queue.ID, now time.Time) (*Message, error) {
	var env envelope
	var b built
	var err error
	if b.from, err = env.parseMailbox("from", req.From); err != nil {
		return nil, err
	}
	if b.to, err = env.parseMailboxes("to", req.To); err != nil {
		return nil, err
	}
	if b.cc, err = env.parseMailboxes("cc", req.Cc); err != nil {
		return nil, err
	}
	if _, err = env.parseMailboxes("bcc", req.Bcc); err != nil {
		return nil, err
	}
	switch {
	case len(env.to) == 0:
		return nil, badRequest("to", "missing: at least one recipient in to, cc or bcc")
	case len(env.to) > s.cfg.MaxRecipients:
		return nil, badRequest("to", "more than %d recipients in to, cc and bcc", s.cfg.MaxRecipients)
	}
	if req.ReplyTo != "" {
		if b.replyTo, err = env.parseMailbox("reply_to", req.ReplyTo); err != nil {
			return nil, err
		}
	}
	if len(req.Subject) > maxSubject || strings.ContainsFunc(req.Subject, isControl) {
		return nil, badRequest("subject", "must be one line of at most %d bytes", maxSubject)
	}
	b.subject, b.text, b.html = req.Subject, req.Text, req.HTML
	if b.headers, err = checkHeaders(req.Headers); err != nil {
		return nil, err
	}
	if b.attachments, err = decodeAttachments(req.Attachments); err != nil {
		return nil, err
	}
	if b.text == "" && b.html == "" && len(b.attachments) == 0 {
		return nil, badRequest("text", "missing: a message needs text, html or an attachment")
	}
	msgID := messageID(id, s.cfg.Hostname)
	body, err := b.render(msgID, now)
	if err != nil {
		return nil, fmt.Errorf("build message: %w", err)
	}
	if int64(len(body)) > s.cfg.MaxMessageBytes {
		return nil, tooBig("", len(body), s.cfg.MaxMessageBytes)
	}
	return &Message{ID: id, From: b.from.Address, To: env.to, Body: body, MessageID: msgID, UTF8: env.utf8}, nil
}

// checkHeaders checks the extra header fields and returns them sorted, so
// that the same request builds the same message.
func checkHeaders(h map[string]string) ([][2]string, error) {
	if len(h) > maxHeaders {
		return nil, badRequest("headers", "more than %d fields", maxHeaders)
	}
	out := make([][2]string, 0, len(h))
	for name, value := range h {
		field := "headers." + name
		if len(name) > maxHeaderName || !header.IsFieldName(name) {
			return nil, badRequest(field, "a field name is 1 to %d printable ASCII characters without colon", maxHeaderName)
		}
		if slices.Contains(reservedHeaders, strings.ToLower(name)) {
			return nil, badRequest(field, "is set by mxout or by a field of the request, not in headers")
		}
		if len(value) > maxHeaderValue || strings.ContainsFunc(value, isControl) {
			return nil, badRequest(field, "a value is one line of at most %d bytes", maxHeaderValue)
		}
		out = append(out, [2]string{name, value})
	}
	slices.SortFunc(out, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	return out, nil
}

// decodeAttachments decodes the base64 contents and checks the names and
// types; a missing type is guessed from the file name's extension.
func decodeAttachments(list []attachment) ([]file, error) {
	if len(list) > maxAttachments {
		return nil, badRequest("attachments", "more than %d attachments", maxAttachments)
	}
	out := make([]file, 0, len(list))
	for i, a := range list {
		field := fmt.Sprintf("attachments[%d]", i)
		if len(a.Filename) > maxFilename || strings.ContainsFunc(a.Filename, isControl) || strings.ContainsAny(a.Filename, `/\`) {
			return nil, badRequest(field+".filename", "a file name is at most %d bytes, without control characters or slashes", maxFilename)
		}
		ct := a.ContentType
		if ct == "" {
			ct = mime.TypeByExtension(path.Ext(a.Filename))
		}
		if ct == "" {
			ct = "application/octet-stream"
		}
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil || len(ct) > maxHeaderValue {
			return nil, badRequest(field+".content_type", "%q is not a media type", a.ContentType)
		}
		if strings.HasPrefix(mt, "multipart/") || strings.HasPrefix(mt, "message/") {
			// RFC 2046 5.1 and 5.2.1: these may not be base64-encoded.
			return nil, badRequest(field+".content_type", "%s cannot be an attachment here; send the message raw", mt)
		}
		if a.Filename != "" {
			params["name"] = a.Filename
		}
		data, err := base64.StdEncoding.DecodeString(a.Content)
		if err != nil {
			return nil, badRequest(field+".content", "not base64: %v", err)
		}
		ct = mime.FormatMediaType(mt, params)
		if ct == "" {
			return nil, badRequest(field+".content_type", "%q is not a media type", a.ContentType)
		}
		out = append(out, file{name: a.Filename, contentType: ct, data: data})
	}
	return out, nil
}
