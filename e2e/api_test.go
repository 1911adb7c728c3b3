package e2e

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/mail"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/internal/testwait"
)

// mimeTypes is the MIME structure of an entity: "type[child child]".
func mimeTypes(t *testing.T, h mail.Header, body io.Reader) (string, map[string][]byte) {
	t.Helper()
	typ, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		t.Fatalf("Content-Type %q: %v", h.Get("Content-Type"), err)
	}
	parts := map[string][]byte{}
	if !strings.HasPrefix(typ, "multipart/") {
		b, _ := io.ReadAll(body)
		if h.Get("Content-Transfer-Encoding") == "base64" {
			b, _ = io.ReadAll(base64.NewDecoder(base64.StdEncoding, bytes.NewReader(b)))
		}
		parts[typ] = b
		return typ, parts
	}
	mr := multipart.NewReader(body, params["boundary"])
	var kids []string
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		k, sub := mimeTypes(t, mail.Header(p.Header), p)
		kids = append(kids, k)
		for n, b := range sub {
			parts[n] = b
		}
	}
	return typ + "[" + strings.Join(kids, " ") + "]", parts
}

// The built binary takes JSON with text, html and an attachment, answers
// 202 once it is queued, and the MX gets the expected MIME structure; a
// raw message arrives byte for byte behind the relay's Received field.
func TestAPI_BuiltAndRawMessagesArrive(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mx := e.mx("dest.example", 10, smtptest.Options{})
	port, over := apiOverrides(t)
	e.newRelay(over).start()

	pdf := []byte("%PDF-1.4 \x00\x01\x02 binary")
	rc := apiSend(t, port, appToken, map[string]any{
		"from": "Shop <shop@sender.example>", "to": []string{"Ann <ann@dest.example>"}, "bcc": []string{"audit@dest.example"},
		"subject": "Ihre Rechnung", "text": "Danke.\n", "html": "<p>Danke.</p>",
		"attachments": []map[string]string{{"filename": "r.pdf", "content_type": "application/pdf", "content": base64.StdEncoding.EncodeToString(pdf)}},
	}).receipt(t)
	if rc.Recipients != 2 {
		t.Errorf("receipt %+v: want 2 recipients", rc)
	}
	msgs := mx.WaitMessages(t, 1, 20*time.Second)
	m, err := mail.ReadMessage(bytes.NewReader(msgs[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	structure, parts := mimeTypes(t, m.Header, m.Body)
	if structure != "multipart/mixed[multipart/alternative[text/plain text/html] application/pdf]" {
		t.Errorf("structure %s", structure)
	}
	if string(parts["text/plain"]) != "Danke.\r\n" || string(parts["text/html"]) != "<p>Danke.</p>\r\n" || !bytes.Equal(parts["application/pdf"], pdf) {
		t.Errorf("parts %q", parts)
	}
	if m.Header.Get("Message-ID") != rc.MessageID || m.Header.Get("Bcc") != "" || bytes.Contains(msgs[0].Data, []byte("audit@")) {
		t.Errorf("Message-ID %q (receipt %q), or the Bcc shows", m.Header.Get("Message-ID"), rc.MessageID)
	}
	if got := strings.Join(msgs[0].To, ","); got != "ann@dest.example,audit@dest.example" || msgs[0].From != "shop@sender.example" {
		t.Errorf("envelope %s -> %s", msgs[0].From, got)
	}

	raw := "From: shop@sender.example\r\nTo: bob@dest.example\r\nSubject: raw\r\nDate: Wed, 25 Nov 2026 12:00:00 +0000\r\n" +
		"Message-ID: <raw-1@sender.example>\r\nX-Spacing:  kept  \r\n\r\n.a dot\r\nbody\r\n"
	rc = apiSend(t, port, appToken, map[string]any{"envelope_from": "bounce@sender.example", "recipients": []string{"bob@dest.example"}, "raw": raw}).receipt(t)
	if rc.MessageID != "<raw-1@sender.example>" {
		t.Errorf("raw receipt %+v", rc)
	}
	msgs = mx.WaitMessages(t, 2, 20*time.Second)
	data := string(msgs[1].Data)
	stamp, ok := strings.CutSuffix(data, raw)
	if !ok || !strings.HasPrefix(stamp, "Received: from api ") || strings.Count(stamp, "\r\n") != strings.Count(stamp, "\r\n\t")+1 {
		t.Errorf("the raw message arrived as\n%q\nwant one Received field, then byte for byte\n%q", data, raw)
	}
}

// Each error status of the API, from the built binary.
func TestAPI_ErrorStatuses(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	port, over := apiOverrides(t)
	over["submission"] = map[string]any{"max_message_bytes": 20000}
	e.newRelay(over).start()
	ok := `"from":"a@sender.example","to":["b@dest.example"]`
	for _, tt := range []struct {
		name, token, body string
		status            int
		field             string
	}{
		{"malformed JSON", appToken, `{"from":`, 400, ""},
		{"missing address", appToken, `{"to":["b@dest.example"],"text":"x"}`, 400, "from"},
		{"invalid address", appToken, `{"from":"a@sender.example","to":["b@"],"text":"x"}`, 400, "to[0]"},
		{"bad base64", appToken, `{` + ok + `,"attachments":[{"filename":"f","content":"***"}]}`, 400, "attachments[0].content"},
		{"no token", "", `{` + ok + `,"text":"x"}`, 401, ""},
		{"unknown token", "mxo_nobody", `{` + ok + `,"text":"x"}`, 401, ""},
		{"sender the key may not use", otherToken, `{` + ok + `,"text":"x"}`, 403, "from"},
		{"too big", appToken, `{` + ok + `,"text":"` + strings.Repeat("x", 30000) + `"}`, 413, ""},
	} {
		ans := apiSend(t, port, tt.token, tt.body)
		if ans.status != tt.status {
			t.Errorf("%s: %s, want %d", tt.name, ans, tt.status)
			continue
		}
		if b := ans.body; !bytes.Contains(b, []byte(`"error":`)) || !bytes.Contains(b, []byte(`"field":"`+tt.field+`"`)) {
			t.Errorf("%s: body %s, want {\"error\",\"field\":%q}", tt.name, b, tt.field)
		}
	}

	// Below the disk reserve: 503.
	full := newEnv(t)
	port, over = apiOverrides(t)
	over["queue"] = map[string]any{"min_free_bytes": "1000000GB"}
	full.newRelay(over).start()
	if ans := apiSend(t, port, appToken, `{`+ok+`,"text":"x"}`); ans.status != http.StatusServiceUnavailable {
		t.Errorf("below the disk reserve: %s, want 503", ans)
	}
}

// A repeated Idempotency-Key gives one delivery, before and after a
// restart, and the same answer each time.
func TestAPI_IdempotencyKeyOneDelivery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mx := e.mx("dest.example", 10, smtptest.Options{})
	port, over := apiOverrides(t)
	r := e.newRelay(over).start()
	req := map[string]any{"from": "a@sender.example", "to": []string{"b@dest.example"}, "text": "once"}
	first := apiSend(t, port, appToken, req, "Idempotency-Key", "order-4711")
	first.receipt(t)
	again := apiSend(t, port, appToken, req, "Idempotency-Key", "order-4711")
	if r.stop() != nil {
		t.Fatalf("stop: %s", r.logs())
	}
	r.start()
	after := apiSend(t, port, appToken, req, "Idempotency-Key", "order-4711")
	for _, a := range []apiAnswer{again, after} {
		if a.status != first.status || !bytes.Equal(a.body, first.body) {
			t.Errorf("repeat: %s, want %s", a, first)
		}
	}
	mx.WaitMessages(t, 1, 20*time.Second)
	apiSend(t, port, appToken, map[string]any{"from": "a@sender.example", "to": []string{"b@dest.example"}, "text": "marker"}).receipt(t)
	msgs := mx.WaitMessages(t, 2, 20*time.Second)
	if n := mx.MessageCount(); n != 2 || !bytes.Contains(msgs[1].Data, []byte("marker")) {
		t.Errorf("%d deliveries; want the idempotent message once, then the marker", n)
	}
}

// A SIGHUP applies api.keys: a key added to the file sends at once, a
// key removed from it is refused.
func TestAPI_SIGHUPReloadsKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	port, over := apiOverrides(t)
	r := e.newRelay(over).start()
	req := func(from string) string {
		return `{"from":"` + from + `","to":["b@dest.example"],"text":"x"}`
	}
	if ans := apiSend(t, port, otherToken, req("a@other.example")); ans.status != http.StatusAccepted {
		t.Fatalf("before the reload: %s", ans)
	}
	const thirdToken = "mxo_e2e-third-token"
	r.config["api"].(map[string]any)["keys"] = []any{
		map[string]any{"name": "app", "token_sha256": tokenHash(appToken), "allowed_senders": []any{"*@sender.example"}},
		map[string]any{"name": "third", "token_sha256": tokenHash(thirdToken), "allowed_senders": []any{"*@third.example"}},
	}
	r.writeConfig()
	r.cmd.Process.Signal(syscall.SIGHUP)
	testwait.For(t, 10*time.Second, "the api.keys reload log line", func() bool {
		for _, l := range logLines(t, r, "reloaded on SIGHUP") {
			if l["part"] == "api.keys" {
				return true
			}
		}
		return false
	})
	if strings.Contains(r.logs(), "need a restart") {
		t.Errorf("the reload says a changed key needs a restart:\n%s", r.logs())
	}
	for _, tt := range []struct {
		token, from string
		status      int
	}{
		{otherToken, "a@other.example", http.StatusUnauthorized},
		{thirdToken, "a@third.example", http.StatusAccepted},
		{thirdToken, "a@sender.example", http.StatusForbidden},
		{appToken, "a@sender.example", http.StatusAccepted},
	} {
		if ans := apiSend(t, port, tt.token, req(tt.from)); ans.status != tt.status {
			t.Errorf("after the reload, %s as %s: %s, want %d", tt.token, tt.from, ans, tt.status)
		}
	}
}
