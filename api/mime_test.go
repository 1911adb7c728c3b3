package api

import (
	"bytes"
	"errors"
	"mime"
	"net/http"
	"net/mail"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/mxout/mxout/queue"
)

func TestEncodeText(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 1200)
	tests := []struct {
		name, in, cte string
		out           string // "" skips the comparison
	}{
		{"ascii LF", "a\nb", "7bit", "a\r\nb\r\n"},
		{"ascii CRLF and CR", "a\r\nb\rc\r\n", "7bit", "a\r\nb\r\nc\r\n"},
		{"utf-8", "é\n", "quoted-printable", "=C3=A9\r\n"},
		{"long line", long, "quoted-printable", ""},
		{"NUL", "a\x00b", "quoted-printable", ""},
		{"trailing space kept", "a \nb", "7bit", "a \r\nb\r\n"},
	}
	for _, tt := range tests {
		body, cte := encodeText(tt.in)
		if cte != tt.cte || tt.out != "" && string(body) != tt.out {
			t.Errorf("%s: %q %s, want %q %s", tt.name, body, cte, tt.out, tt.cte)
		}
		for _, l := range strings.Split(string(body), "\r\n") {
			if len(l) > 78 && cte == "quoted-printable" {
				t.Errorf("%s: a quoted-printable line of %d", tt.name, len(l))
			}
		}
		if strings.Count(string(body), "\n") != strings.Count(string(body), "\r\n") {
			t.Errorf("%s: bare LF in %q", tt.name, body)
		}
	}
}

// Header fields fold at 78 where they have spaces to fold at, and
// unfold and decode to the original.
func TestHeaderWriter(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	h := headerWriter{buf: new(bytes.Buffer)}
	subject := "Ünïcödé " + strings.Repeat("word ", 40) + "end"
	h.text("Subject", subject)
	var list []*mail.Address
	for i := range 12 {
		list = append(list, &mail.Address{Name: "Name Number " + string(rune('A'+i)), Address: "someone@example.net"})
	}
	h.addresses("To", list)
	b.Write(h.buf.Bytes())
	msg, err := mail.ReadMessage(strings.NewReader(b.String() + "\r\nbody\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(b.String(), "\r\n") {
		if len(line) > maxLine {
			t.Errorf("line of %d: %q", len(line), line)
		}
	}
	dec := new(mime.WordDecoder)
	if got, err := dec.DecodeHeader(msg.Header.Get("Subject")); err != nil || got != subject {
		t.Errorf("Subject decodes to %q (%v)", got, err)
	}
	to, err := msg.Header.AddressList("To")
	if err != nil || len(to) != 12 || to[11].Name != "Name Number L" {
		t.Errorf("To: %v %v", to, err)
	}
}

// The queue side's answers map to statuses by meaning.
func TestRefusal(t *testing.T) {
	t.Parallel()
	reply := func(code int, class, subject, detail int) error {
		return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{class, subject, detail}, Message: "m"}
	}
	tests := []struct {
		err    error
		status int
		field  string
	}{
		{reply(553, 5, 7, 1), http.StatusForbidden, "from"}, // sender or From: not allowed
		{reply(550, 5, 7, 1), http.StatusForbidden, "from"}, // dkim.require without a key
		{reply(552, 5, 3, 4), http.StatusRequestEntityTooLarge, ""},
		{reply(452, 4, 3, 1), http.StatusServiceUnavailable, ""}, // the disk reserve
		{reply(451, 4, 3, 0), http.StatusServiceUnavailable, ""},
		{reply(554, 5, 4, 6), http.StatusBadRequest, ""}, // a mail loop
		{reply(550, 5, 6, 11), http.StatusBadRequest, ""},
		{queue.ErrNoSpace, http.StatusServiceUnavailable, ""},
		{errors.New("badger: something"), http.StatusInternalServerError, ""},
		{badRequest("raw", "x"), http.StatusBadRequest, "raw"},
	}
	for _, tt := range tests {
		e := refusal(tt.err, "from")
		if e.Status != tt.status || e.Field != tt.field {
			t.Errorf("%v: %d %q, want %d %q", tt.err, e.Status, e.Field, tt.status, tt.field)
		}
	}
}
