package api

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mxout/mxout/internal/mailtext"
	"github.com/mxout/mxout/queue"
)

// mimePart is a parsed MIME entity: its media type, and its decoded body
// or its parts.
type mimePart struct {
	header   mail.Header
	typ      string
	params   map[string]string
	body     []byte
	children []*mimePart
}

// parseMIME reads msg the way a mail reader does, with net/mail and
// mime/multipart, decoding transfer encodings.
func parseMIME(t *testing.T, msg []byte) *mimePart {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		t.Fatalf("the message does not parse: %v\n%s", err, msg)
	}
	return parseEntity(t, m.Header, m.Body)
}

func parseEntity(t *testing.T, h mail.Header, body io.Reader) *mimePart {
	t.Helper()
	typ, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		t.Fatalf("Content-Type %q: %v", h.Get("Content-Type"), err)
	}
	p := &mimePart{header: h, typ: typ, params: params}
	if strings.HasPrefix(typ, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			part, err := mr.NextRawPart()
			if err == io.EOF {
				return p
			}
			if err != nil {
				t.Fatalf("%s: %v", typ, err)
			}
			p.children = append(p.children, parseEntity(t, mail.Header(part.Header), part))
		}
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	switch cte := strings.ToLower(h.Get("Content-Transfer-Encoding")); cte {
	case "base64":
		p.body, err = io.ReadAll(base64.NewDecoder(base64.StdEncoding, bytes.NewReader(raw)))
	case "quoted-printable":
		p.body, err = io.ReadAll(mimeQP(raw))
	case "7bit", "":
		p.body = raw
	default:
		t.Fatalf("unexpected Content-Transfer-Encoding %q", cte)
	}
	if err != nil {
		t.Fatalf("decoding %s: %v", typ, err)
	}
	return p
}

func (p *mimePart) types() string {
	if len(p.children) == 0 {
		return p.typ
	}
	var kids []string
	for _, c := range p.children {
		kids = append(kids, c.types())
	}
	return p.typ + "[" + strings.Join(kids, " ") + "]"
}

// A message built from text, html and an attachment is multipart/mixed
// with multipart/alternative inside, and each part decodes to what was
// sent; Bcc is an envelope recipient only; Message-ID and Date are added;
// non-ASCII header text is RFC 2047 and decodes back.
func TestSend_BuiltStructure(t *testing.T) {
	t.Parallel()
	ta := newTestAPI(t, nil)
	pdf := []byte("%PDF-1.4 binary \x00\xff\xfe bytes")
	ans := ta.send(t, billingToken, map[string]any{
		"from":     "Zoë Billing <billing@example.com>",
		"to":       []string{"Ann <ann@example.net>", "bob@example.net"},
		"cc":       []string{"carol@example.org"},
		"bcc":      []string{"audit@example.org", "ANN@example.net"},
		"reply_to": "help@example.com",
		"subject":  "Ihre Rechnung über 12 €",
		"text":     "Hallo,\nanbei die Rechnung.\n",
		"html":     "<p>Hallo,<br>anbei die Rechnung.</p>",
		"headers":  map[string]string{"X-Campaign": "nov", "List-Unsubscribe": "<mailto:u@example.com>"},
		"attachments": []map[string]string{
			{"filename": "rechnung.pdf", "content_type": "application/pdf", "content": base64.StdEncoding.EncodeToString(pdf)},
		},
		"metadata": map[string]string{"invoice": "42"},
	})
	rc := ans.receipt(t)
	if !bytes.Contains(ans.body, []byte(`"message_id":"<`)) {
		t.Errorf("202 body %s: want the Message-ID unescaped", ans.body)
	}
	if rc.Recipients != 4 || rc.MessageID != "<"+rc.ID+"@relay.example>" {
		t.Errorf("receipt %+v: want 4 recipients (ANN@ is ann@ again) and Message-ID <id@relay.example>", rc)
	}
	m, body := ta.stored(t, rc.ID)
	if got, want := recipients(m), []string{"ann@example.net", "bob@example.net", "carol@example.org", "audit@example.org"}; !slices.Equal(got, want) {
		t.Errorf("envelope recipients %v, want %v", got, want)
	}
	if m.From != "billing@example.com" {
		t.Errorf("envelope sender %q", m.From)
	}
	if hasHeader(body, "Bcc") || bytes.Contains(body, []byte("audit@")) {
		t.Errorf("the Bcc recipient shows in the message:\n%s", body)
	}
	root := parseMIME(t, body)
	if got := root.types(); got != "multipart/mixed[multipart/alternative[text/plain text/html] application/pdf]" {
		t.Fatalf("structure %s", got)
	}
	h := root.header
	dec := new(mime.WordDecoder)
	subject, err := dec.DecodeHeader(h.Get("Subject"))
	if err != nil || subject != "Ihre Rechnung über 12 €" || mailtext.IsASCII(subject) && !strings.Contains(h.Get("Subject"), "=?utf-8?") {
		t.Errorf("Subject %q decodes to %q (%v)", h.Get("Subject"), subject, err)
	}
	from, err := h.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Name != "Zoë Billing" || from[0].Address != "billing@example.com" {
		t.Errorf("From %q: %v %v", h.Get("From"), from, err)
	}
	to, err := h.AddressList("To")
	if err != nil || len(to) != 2 || to[0].Name != "Ann" || to[1].Address != "bob@example.net" {
		t.Errorf("To %q: %v %v", h.Get("To"), to, err)
	}
	if h.Get("Message-ID") != rc.MessageID || h.Get("Reply-To") != "help@example.com" || h.Get("X-Campaign") != "nov" {
		t.Errorf("Message-ID %q Reply-To %q X-Campaign %q", h.Get("Message-ID"), h.Get("Reply-To"), h.Get("X-Campaign"))
	}
	if _, err := h.Date(); err != nil || h.Get("MIME-Version") != "1.0" {
		t.Errorf("Date %q (%v), MIME-Version %q", h.Get("Date"), err, h.Get("MIME-Version"))
	}
	alt := root.children[0]
	if got := string(alt.children[0].body); got != "Hallo,\r\nanbei die Rechnung.\r\n" {
		t.Errorf("text part %q", got)
	}
	if got := string(alt.children[1].body); got != "<p>Hallo,<br>anbei die Rechnung.</p>\r\n" {
		t.Errorf("html part %q", got)
	}
	att := root.children[1]
	if !bytes.Equal(att.body, pdf) {
		t.Errorf("attachment %q, want %q", att.body, pdf)
	}
	if _, params, _ := mime.ParseMediaType(att.header.Get("Content-Disposition")); params["filename"] != "rechnung.pdf" {
		t.Errorf("Content-Disposition %q", att.header.Get("Content-Disposition"))
	}
	for _, line := range strings.Split(string(body), "\r\n") {
		if len(line) > 998 {
			t.Errorf("a line of %d octets", len(line))
		}
	}
}

// The single-part shapes: text alone, html alone, and attachments alone.
func TestSend_BuiltShapes(t *testing.T) {
	t.Parallel()
	ta := newTestAPI(t, nil)
	att := []map[string]string{{"filename": "a.csv", "content": base64.StdEncoding.EncodeToString([]byte("a,b\n"))}}
	tests := []struct {
		name  string
		req   map[string]any
		types string
	}{
		{"text", map[string]any{"text": "plain"}, "text/plain"},
		{"html", map[string]any{"html": "<b>x</b>"}, "text/html"},
		{"text and html", map[string]any{"text": "t", "html": "<i>h</i>"}, "multipart/alternative[text/plain text/html]"},
		{"text and file", map[string]any{"text": "t", "attachments": att}, "multipart/mixed[text/plain text/csv]"},
		{"file only", map[string]any{"attachments": att}, "multipart/mixed[text/csv]"},
	}
	for _, tt := range tests {
		tt.req["from"], tt.req["to"] = "app@example.com", []string{"x@example.net"}
		rc := ta.send(t, billingToken, tt.req).receipt(t)
		_, body := ta.stored(t, rc.ID)
		if got := parseMIME(t, body).types(); got != tt.types {
			t.Errorf("%s: structure %s, want %s", tt.name, got, tt.types)
		}
	}
}

// A raw message is stored byte for byte; one with LF line ends gets CRLF.
func TestSend_Raw(t *testing.T) {
	t.Parallel()
	ta := newTestAPI(t, nil)
	raw := "From: App <app@example.com>\r\nTo: x@example.net\r\nSubject: raw\r\nMessage-ID: <given@example.com>\r\n" +
		"X-Odd:  two  spaces \r\n\r\nbody \xc3\xa9 line\r\n..dot\r\n"
	rc := ta.send(t, billingToken, map[string]any{
		"envelope_from": "bounces@example.com", "recipients": []string{"x@example.net", "y@example.net"}, "raw": raw,
	}).receipt(t)
	m, body := ta.stored(t, rc.ID)
	if stamp, ok := strings.CutSuffix(string(body), raw); !ok || !strings.HasPrefix(stamp, "Received: from api ([127.0.0.1])") ||
		strings.Contains(stamp, "Message-ID") || strings.Count(stamp, "\r\n") != 4 {
		t.Errorf("stored\n%q\nwant the relay's Received and Date fields, then\n%q", body, raw)
	}
	if m.From != "bounces@example.com" || rc.Recipients != 2 || rc.MessageID != "<given@example.com>" {
		t.Errorf("envelope from %q, receipt %+v", m.From, rc)
	}
	rc = ta.send(t, billingToken, map[string]any{
		"envelope_from": "a@example.com", "recipients": []string{"x@example.net"}, "raw": "From: a@example.com\nSubject: lf\n\nline\nlast",
	}).receipt(t)
	if _, body := ta.stored(t, rc.ID); !strings.HasSuffix(string(body), "\r\nFrom: a@example.com\r\nSubject: lf\r\n\r\nline\r\nlast\r\n") {
		t.Errorf("LF message stored as %q", body)
	}
	if !strings.HasPrefix(rc.MessageID, "<"+rc.ID+"@") {
		t.Errorf("a raw message without Message-ID: receipt %+v, want the one the stamp added", rc)
	}
}

// Each refusal has its status and names the field.
func TestSend_Errors(t *testing.T) {
	t.Parallel()
	ta := newTestAPI(t, func(c *Config, _ *queue.Options) { c.MaxMessageBytes = 4096; c.MaxRecipients = 3 })
	ok := `"from":"app@example.com","to":["x@example.net"],"text":"t"`
	tests := []struct {
		name, body string
		status     int
		field      string
	}{
		{"malformed JSON", `{"from":`, 400, ""},
		{"not an object", `["x"]`, 400, ""},
		{"trailing data", `{` + ok + `} {}`, 400, ""},
		{"missing from", `{"to":["x@example.net"],"text":"t"}`, 400, "from"},
		{"bad from", `{"from":"not an address","to":["x@example.net"],"text":"t"}`, 400, "from"},
		{"from without domain dot", `{"from":"a@localhost","to":["x@example.net"],"text":"t"}`, 400, "from"},
		{"bad second to", `{"from":"app@example.com","to":["x@example.net","y@"],"text":"t"}`, 400, "to[1]"},
		{"bad bcc", `{"from":"app@example.com","to":["x@example.net"],"bcc":["<>"],"text":"t"}`, 400, "bcc[0]"},
		{"no recipient", `{"from":"app@example.com","text":"t"}`, 400, "to"},
		{"too many recipients", `{"from":"app@example.com","to":["a@x.net","b@x.net"],"cc":["c@x.net","d@x.net"],"text":"t"}`, 400, "to"},
		{"no content", `{"from":"app@example.com","to":["x@example.net"]}`, 400, "text"},
		{"bad base64", `{` + ok + `,"attachments":[{"filename":"a","content":"!!!"}]}`, 400, "attachments[0].content"},
		{"bad media type", `{` + ok + `,"attachments":[{"content_type":"a b","content":""}]}`, 400, "attachments[0].content_type"},
		{"filename with slash", `{` + ok + `,"attachments":[{"filename":"../x","content":""}]}`, 400, "attachments[0].filename"},
		{"to as a string", `{"from":"app@example.com","to":"x@example.net","text":"t"}`, 400, "to"},
		{"unknown field", `{` + ok + `,"body":"x"}`, 400, "body"},
		{"unknown attachment field", `{` + ok + `,"attachments":[{"data":"x"}]}`, 400, "attachments[0].data"},
		{"field twice", `{` + ok + `,"text":"again"}`, 400, "text"},
		{"mixed shapes", `{` + ok + `,"raw":"x"}`, 400, "from"},
		{"too deep", `{` + ok + `,"metadata":{"a":{"b":[1]}}}`, 400, "metadata.a.b"},
		{"reserved header", `{` + ok + `,"headers":{"bcc":"z@example.net"}}`, 400, "headers.bcc"},
		{"header injection", `{` + ok + `,"headers":{"X-A":"v\r\nBcc: z@example.net"}}`, 400, "headers.X-A"},
		{"subject injection", `{` + ok + `,"subject":"hi\r\nBcc: z@example.net"}`, 400, "subject"},
		{"metadata key", `{` + ok + `,"metadata":{"a b":"x"}}`, 400, "metadata.a b"},
		{"metadata value", `{` + ok + `,"metadata":{"k":"` + strings.Repeat("v", maxMetadataValue+1) + `"}}`, 400, "metadata.k"},
		{"metadata not a string", `{` + ok + `,"metadata":{"k":1}}`, 400, "metadata"},
		{"raw missing envelope_from", `{"recipients":["x@example.net"],"raw":"Subject: x\r\n\r\nb\r\n"}`, 400, "envelope_from"},
		{"raw bad recipient", `{"envelope_from":"a@example.com","recipients":["x"],"raw":"b\r\n"}`, 400, "recipients[0]"},
		{"raw bare CR", `{"envelope_from":"a@example.com","recipients":["x@example.net"],"raw":"a\rb\r\n"}`, 400, "raw"},
		{"raw empty", `{"envelope_from":"a@example.com","recipients":["x@example.net"],"raw":""}`, 400, "raw"},
		{"built too big", `{` + ok + `,"html":"` + strings.Repeat("h", 5000) + `"}`, 413, ""},
		{"raw too big", `{"envelope_from":"a@example.com","recipients":["x@example.net"],"raw":"` + strings.Repeat("r", 5000) + `"}`, 413, "raw"},
		{"body too big", `{` + ok + `,"html":"` + strings.Repeat("h", 2*4096+1<<20) + `"}`, 413, ""},
	}
	for _, tt := range tests {
		ans := ta.send(t, billingToken, tt.body)
		if ans.status != tt.status {
			t.Errorf("%s: status %d, want %d (%s)", tt.name, ans.status, tt.status, ans.body)
			continue
		}
		if _, field := ans.errorBody(t); field != tt.field {
			t.Errorf("%s: field %q, want %q (%s)", tt.name, field, tt.field, ans.body)
		}
	}
	if st := ta.q.Stats(); st.Ready != 0 {
		t.Errorf("%d refused requests were queued", st.Ready)
	}
}

func TestSend_AuthAndRoutes(t *testing.T) {
	t.Parallel()
	ta := newTestAPI(t, nil)
	body := []byte(`{"from":"app@example.com","to":["x@example.net"],"text":"t"}`)
	for _, tt := range []struct {
		name, method, path, auth string
		status                   int
	}{
		{"no token", "POST", "/v1/send", "", 401},
		{"unknown token", "POST", "/v1/send", "Bearer mxo_guess", 401},
		{"basic auth", "POST", "/v1/send", "Basic " + base64.StdEncoding.EncodeToString([]byte("billing:"+billingToken)), 401},
		{"overlong token", "POST", "/v1/send", "Bearer " + strings.Repeat("x", 4000), 401},
		{"lowercase scheme", "POST", "/v1/send", "bearer " + billingToken, 202},
		{"wrong method", "GET", "/v1/send", "Bearer " + billingToken, 405},
		{"feed by POST", "POST", "/v1/events", "Bearer " + billingToken, 405},
		{"no such path", "GET", "/v2/send", "Bearer " + billingToken, 404},
		{"no such path without a token", "GET", "/v2/send", "", 401},
	} {
		ans := ta.do(t, tt.method, tt.path, "", body, "Authorization", tt.auth)
		if ans.status != tt.status {
			t.Errorf("%s: status %d, want %d (%s)", tt.name, ans.status, tt.status, ans.body)
			continue
		}
		if tt.status != 202 {
			ans.errorBody(t)
		}
		if tt.status == 401 && ans.header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", tt.name)
		}
	}
}

// The disk below its reserve: 503, and nothing queued.
func TestSend_DiskReserve503(t *testing.T) {
	t.Parallel()
	ta := newTestAPI(t, func(_ *Config, o *queue.Options) {
		o.MinFreeBytes = 1 << 30
		o.FreeSpace = func(string) (int64, error) { return 1 << 20, nil }
	})
	ans := ta.send(t, billingToken, map[string]any{"from": "app@example.com", "to": []string{"x@example.net"}, "text": "t"})
	if ans.status != http.StatusServiceUnavailable || ans.header.Get("Retry-After") == "" {
		t.Fatalf("status %d Retry-After %q, want 503 with Retry-After: %s", ans.status, ans.header.Get("Retry-After"), ans.body)
	}
	ans.errorBody(t)
	if st := ta.q.Stats(); st.Ready != 0 {
		t.Errorf("queued %d messages", st.Ready)
	}
}

// Repeats of one Idempotency-Key, one after the other and at once, get
// the first answer, byte for byte, and queue one message; another key's
// same Idempotency-Key is its own.
func TestSend_IdempotencyKey(t *testing.T) {
	t.Parallel()
	ta := newTestAPI(t, nil)
	req := map[string]any{"from": "app@example.com", "to": []string{"x@example.net"}, "text": "once"}
	first := ta.send(t, billingToken, req, "Idempotency-Key", "order-42")
	first.receipt(t)
	var wg sync.WaitGroup
	answers := make([]answer, 8)
	for i := range answers {
		wg.Go(func() { answers[i] = ta.send(t, billingToken, req, "Idempotency-Key", "order-42") })
	}
	wg.Wait()
	for i, a := range answers {
		if a.status != first.status || !bytes.Equal(a.body, first.body) {
			t.Errorf("repeat %d: %d %s, want %d %s", i, a.status, a.body, first.status, first.body)
		}
	}
	// A repeat with another body still gets the first answer.
	if a := ta.send(t, billingToken, `{"not":"even valid"}`, "Idempotency-Key", "order-42"); !bytes.Equal(a.body, first.body) {
		t.Errorf("repeat with another body: %d %s", a.status, a.body)
	}
	other := ta.send(t, otherToken, map[string]any{"from": "app@example.com", "to": []string{"x@example.net"}, "text": "t"}, "Idempotency-Key", "order-42")
	if rc := other.receipt(t); bytes.Equal(other.body, first.body) || rc.ID == "" {
		t.Errorf("another key's request got the first key's answer")
	}
	if st := ta.q.Stats(); st.Ready != 2 {
		t.Errorf("queued %d messages, want 2", st.Ready)
	}
	for _, bad := range []string{"has space", strings.Repeat("k", maxIdempotency+1)} {
		if a := ta.send(t, billingToken, req, "Idempotency-Key", bad); a.status != 400 {
			t.Errorf("Idempotency-Key %q: status %d", bad, a.status)
		} else if _, f := a.errorBody(t); f != "Idempotency-Key" {
			t.Errorf("Idempotency-Key %q: field %q", bad, f)
		}
	}
}

// Many concurrent sends under a small memory budget all get through: a
// request waits for room instead of failing.
func TestSend_InFlightBudgetQueuesRequests(t *testing.T) {
	t.Parallel()
	ta := newTestAPI(t, func(c *Config, _ *queue.Options) { c.MaxInFlightBytes = 64 << 10 })
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			ans := ta.send(t, billingToken, map[string]any{
				"from": "app@example.com", "to": []string{fmt.Sprintf("r%d@example.net", i)}, "text": strings.Repeat("x", 10000),
			})
			if ans.status != 202 {
				t.Errorf("send %d: %d %s", i, ans.status, ans.body)
			}
		})
	}
	wg.Wait()
	if st := ta.q.Stats(); st.Ready != 20 {
		t.Errorf("queued %d, want 20", st.Ready)
	}
}

func mimeQP(b []byte) io.Reader { return quotedprintable.NewReader(bytes.NewReader(b)) }

// A key's allowed senders apply as a submission user's do: to the
// envelope sender and to the From: header; the refusal names the field.
func TestSend_SenderRules403(t *testing.T) {
	t.Parallel()
	ta := newTestAPI(t, nil)
	tests := []struct {
		name, token string
		req         map[string]any
		field       string
	}{
		{"from outside the key's senders", billingToken,
			map[string]any{"from": "ceo@example.org", "to": []string{"x@example.net"}, "text": "t"}, "from"},
		{"a key without senders", nobodyToken,
			map[string]any{"from": "app@example.com", "to": []string{"x@example.net"}, "text": "t"}, "from"},
		{"raw: envelope sender", billingToken,
			map[string]any{"envelope_from": "b@example.org", "recipients": []string{"x@example.net"}, "raw": "From: a@example.com\r\n\r\nx\r\n"}, "envelope_from"},
		{"raw: From: header", billingToken,
			map[string]any{"envelope_from": "b@example.com", "recipients": []string{"x@example.net"}, "raw": "From: ceo@example.org\r\n\r\nx\r\n"}, "raw"},
	}
	for _, tt := range tests {
		ans := ta.send(t, tt.token, tt.req)
		if ans.status != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403 (%s)", tt.name, ans.status, ans.body)
			continue
		}
		if _, field := ans.errorBody(t); field != tt.field {
			t.Errorf("%s: field %q, want %q", tt.name, field, tt.field)
		}
	}
	if st := ta.q.Stats(); st.Ready != 0 {
		t.Errorf("%d refused messages queued", st.Ready)
	}
}

// The answer to an Idempotency-Key is kept in the queue: after a restart
// a repeat gets it, byte for byte, and queues nothing.
func TestSend_IdempotencyKeySurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	inDir := func(_ *Config, o *queue.Options) { o.Dir = dir }
	ta := newTestAPI(t, inDir)
	req := map[string]any{"from": "app@example.com", "to": []string{"x@example.net"}, "text": "once", "metadata": map[string]string{"order": "7"}}
	first := ta.send(t, billingToken, req, "Idempotency-Key", "order-7")
	rc := first.receipt(t)
	m, _ := ta.stored(t, rc.ID)
	if !m.API || m.User != "billing" || m.Metadata["order"] != "7" || m.Client != "127.0.0.1" {
		t.Errorf("envelope %+v: want the API key, its metadata and the client", m.Envelope)
	}
	ta.stop()
	ta = newTestAPI(t, inDir)
	again := ta.send(t, billingToken, req, "Idempotency-Key", "order-7")
	if again.status != first.status || !bytes.Equal(again.body, first.body) {
		t.Errorf("after a restart: %d %s, want %d %s", again.status, again.body, first.status, first.body)
	}
	if st := ta.q.Stats(); st.Ready != 1 {
		t.Errorf("%d messages queued, want 1", st.Ready)
	}
}
