package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/emersion/go-smtp"

	"github.com/mxout/mxout/queue"
)

// sendRequest is the body of POST /v1/send, in either shape: built (from,
// to, ... attachments) or raw (envelope_from, recipients, raw).
type sendRequest struct {
	From        string            `json:"from"`
	To          []string          `json:"to"`
	Cc          []string          `json:"cc"`
	Bcc         []string          `json:"bcc"`
	ReplyTo     string            `json:"reply_to"`
	Subject     string            `json:"subject"`
	Text        string            `json:"text"`
	HTML        string            `json:"html"`
	Headers     map[string]string `json:"headers"`
	Attachments []attachment      `json:"attachments"`

	EnvelopeFrom string   `json:"envelope_from"`
	Recipients   []string `json:"recipients"`
	Raw          string   `json:"raw"`

	Metadata map[string]string `json:"metadata"`
}

type attachment struct {
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Content     string `json:"content"` // base64
}

// The members of each shape; metadata belongs to both.
var (
	builtFields = []string{"from", "to", "cc", "bcc", "reply_to", "subject", "text", "html", "headers", "attachments"}
	rawFields   = []string{"envelope_from", "recipients", "raw"}
)

// Message is a request turned into what the queue side takes.
type Message struct {
	// ID is the queue ID to store the message under; a built message's
	// Message-ID already carries it.
	ID queue.ID
	// Key sent the message; its AllowedSenders apply.
	Key *Key
	// From is the envelope sender, To the recipients (no duplicates).
	From string
	To   []string
	// Body is the RFC 5322 message with CRLF line ends.
	Body []byte
	// MessageID is the Message-ID field of a built message, with its angle
	// brackets; "" for a raw one, whose Message-ID the queue side reports.
	MessageID string
	// UTF8 is set when an address is not ASCII (SMTPUTF8 on the next hop).
	UTF8     bool
	Metadata map[string]string
	// IdempotencyKey is the request's Idempotency-Key header; "" if none.
	IdempotencyKey string
	// IP and Client are the client's address (for the Received field and
	// the logs); TLS tells whether the request came over HTTPS.
	IP     netip.Addr
	Client string
	TLS    bool
	// Raw tells the shape: raw, or built by the API.
	Raw bool
}

// senderField names the request field of the sender that err refuses:
// the envelope sender, or for the From: header of a raw message, raw.
func (m *Message) senderField(err error) string {
	var se *smtp.SMTPError
	header := errors.As(err, &se) && strings.Contains(se.Message, "From header")
	switch {
	case m.Raw && header:
		return "raw"
	case m.Raw:
		return "envelope_from"
	}
	return "from"
}

// decodeRequest checks the body's JSON shape, decodes it and tells which
// shape it is (raw or built).
func (s *Server) decodeRequest(body []byte) (*sendRequest, bool, error) {
	top, err := scanJSON(body, jsonLimits{
		MaxDepth:    3, // {"attachments": [{...}]}
		MaxMembers:  max(maxHeaders, maxMetadata, len(builtFields)+len(rawFields)+1),
		MaxElements: max(s.cfg.MaxRecipients, maxAttachments),
		Known:       knownField,
	})
	if err != nil {
		return nil, false, err
	}
	var req sendRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return nil, false, decodeError(err)
	}
	raw := slices.ContainsFunc(rawFields, func(f string) bool { return top[f] })
	if raw {
		for _, f := range builtFields {
			if top[f] {
				return nil, false, badRequest(f, "is a field of the built shape; a request with envelope_from, recipients or raw is raw")
			}
		}
	}
	return &req, raw, nil
}

// knownField tells the members of the request's objects: the top level,
// and each attachment; headers and metadata take any name.
func knownField(path, name string) bool {
	switch {
	case path == "":
		return name == "metadata" || slices.Contains(builtFields, name) || slices.Contains(rawFields, name)
	case strings.HasPrefix(path, "attachments["):
		return name == "filename" || name == "content_type" || name == "content"
	}
	return true
}

// decodeError names the field of a decoding error.
func decodeError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return badRequest(te.Field, "want a JSON %s, got %s", jsonKind(te.Type.Kind().String()), te.Value)
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return badRequest(strings.Trim(name, `"`), "unknown field")
	}
	return badRequest("", "malformed JSON: %v", err)
}

func jsonKind(goKind string) string {
	switch goKind {
	case "slice":
		return "array"
	case "map", "struct":
		return "object"
	}
	return goKind
}

// Fixed bounds of a request, documented in docs/quickstart-apps.md.
const (
	maxAttachments   = 100
	maxFilename      = 255
	maxHeaders       = 50
	maxHeaderName    = 76
	maxHeaderValue   = 998
	maxSubject       = 2000
	maxAddressText   = 1000 // one address with its display name
	maxMetadata      = 10
	maxMetadataKey   = 40
	maxMetadataValue = 256
	maxIdempotency   = 255
)

// idempotencyKey reads the Idempotency-Key header: 1 to 255 printable
// ASCII characters, or absent.
func idempotencyKey(r *http.Request) (string, error) {
	vs := r.Header.Values("Idempotency-Key")
	switch {
	case len(vs) == 0:
		return "", nil
	case len(vs) > 1:
		return "", badRequest("Idempotency-Key", "given twice")
	}
	k := vs[0]
	if k == "" || len(k) > maxIdempotency || strings.ContainsFunc(k, func(r rune) bool { return r < '!' || r > '~' }) {
		return "", badRequest("Idempotency-Key", "must be 1 to %d printable ASCII characters without spaces", maxIdempotency)
	}
	return k, nil
}

// checkMetadata bounds the metadata, which every event of the message
// carries.
func checkMetadata(md map[string]string) error {
	if len(md) > maxMetadata {
		return badRequest("metadata", "more than %d keys", maxMetadata)
	}
	for k, v := range md {
		field := "metadata." + k
		if k == "" || len(k) > maxMetadataKey || strings.ContainsFunc(k, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.')
		}) {
			return badRequest(field, "keys are 1 to %d letters, digits, '_', '-' or '.'", maxMetadataKey)
		}
		if len(v) > maxMetadataValue || strings.ContainsFunc(v, isControl) {
			return badRequest(field, "values are at most %d bytes, without control characters", maxMetadataValue)
		}
	}
	return nil
}

func isControl(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }
