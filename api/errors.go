package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/emersion/go-smtp"
	"github.com/mxout/mxout/queue"
)

// Error is a refusal: the HTTP status, and the request field it concerns
// ("" when it concerns no one field). Its JSON form is the error body.
type Error struct {
	Status  int    `json:"-"`
	Message string `json:"error"`
	Field   string `json:"field"`
}

func (e *Error) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%d %s", e.Status, e.Message)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Field, e.Message)
}

// badRequest is a 400 about one field.
func badRequest(field, format string, a ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Field: field, Message: fmt.Sprintf(format, a...)}
}

// refusal turns what the queue side answered into an Error. field names
// the sender field of the request's shape, for a refused sender. SMTP
// replies map by meaning: a refused sender (5.7.x) is 403, a message too
// big (552, 5.3.4) is 413, the disk reserve (452 4.3.1) and any other
// temporary refusal are 503, other permanent refusals are 400; an error
// that is not a reply is the relay's own fault, 500.
func refusal(err error, senderField string) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		if errors.Is(err, queue.ErrNoSpace) {
			return &Error{Status: http.StatusServiceUnavailable, Message: "the relay's disk is below its reserve; try again later"}
		}
		return &Error{Status: http.StatusInternalServerError, Message: "local error; try again later"}
	}
	msg := fmt.Sprintf("%d %d.%d.%d %s", se.Code, se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2], se.Message)
	switch {
	case se.Code/100 == 4:
		return &Error{Status: http.StatusServiceUnavailable, Message: msg}
	case se.EnhancedCode[1] == 7:
		return &Error{Status: http.StatusForbidden, Field: senderField, Message: msg}
	case se.Code == 552 || se.EnhancedCode == smtp.EnhancedCode{5, 3, 4}:
		return &Error{Status: http.StatusRequestEntityTooLarge, Message: msg}
	default:
		return &Error{Status: http.StatusBadRequest, Message: msg}
	}
}

// writeJSON answers status with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // Message-IDs read <id@host>, not \u003cid@host\u003e
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error":"encoding the answer failed","field":""}` + "\n")
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func writeError(w http.ResponseWriter, e *Error) {
	switch e.Status {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="mxout"`)
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "60")
	}
	writeJSON(w, e.Status, e)
}
