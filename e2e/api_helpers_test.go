package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxout/mxout/internal/testhttp"
)

// The API tokens of apiRelay's keys and the SHA-256 each config holds.
const (
	appToken   = "mxo_e2e-app-token"
	otherToken = "mxo_e2e-other-token"
)

func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// apiOverrides turns the HTTP API on at a free port with two keys: app
// (senders at sender.example) and other (at other.example).
func apiOverrides(t *testing.T) (port int, over map[string]any) {
	t.Helper()
	port = freePort(t)
	return port, map[string]any{"api": map[string]any{
		"listen": fmt.Sprintf("127.0.0.1:%d", port),
		"keys": []any{
			map[string]any{"name": "app", "token_sha256": tokenHash(appToken), "allowed_senders": []any{"*@sender.example"}},
			map[string]any{"name": "other", "token_sha256": tokenHash(otherToken), "allowed_senders": []any{"*@other.example"}},
		},
	}}
}

// webhookOverrides posts events to hook (signed with secret), retrying
// quickly.
func webhookOverrides(hook *hookReceiver) map[string]any {
	return map[string]any{"webhooks": map[string]any{
		"endpoints": []any{map[string]any{"url": hook.srv.URL + "/mxout", "secret": hook.secret}},
		"retry":     map[string]any{"initial": "100ms", "max_interval": "500ms"},
	}}
}

// apiAnswer is a response of the API read whole.
type apiAnswer struct {
	status int
	body   []byte
}

func (a apiAnswer) String() string { return fmt.Sprintf("%d %s", a.status, a.body) }

// apiCall sends method path to the API at port with token ("" for none)
// and headers given as name, value pairs.
func apiCall(t *testing.T, port int, method, path, token string, body []byte, headers ...string) apiAnswer {
	t.Helper()
	resp, b := testhttp.Do(t, method, fmt.Sprintf("http://127.0.0.1:%d%s", port, path), token, body, headers...)
	return apiAnswer{status: resp.StatusCode, body: b}
}

// apiSend posts v (a JSON value, or a string taken as the body) to
// /v1/send.
func apiSend(t *testing.T, port int, token string, v any, headers ...string) apiAnswer {
	t.Helper()
	return apiCall(t, port, http.MethodPost, "/v1/send", token, testhttp.JSON(t, v), headers...)
}

// sendReceipt is the 202 answer.
type sendReceipt struct {
	ID         string `json:"id"`
	MessageID  string `json:"message_id"`
	Recipients int    `json:"recipients"`
}

func (a apiAnswer) receipt(t *testing.T) sendReceipt {
	t.Helper()
	var rc sendReceipt
	if a.status != http.StatusAccepted || json.Unmarshal(a.body, &rc) != nil || rc.ID == "" {
		t.Fatalf("send: %s, want 202 with a receipt", a)
	}
	return rc
}

// wireEvent is an event as webhooks and the feed send it.
type wireEvent struct {
	ID        string            `json:"id"`
	Type      string            `json:"type"`
	Time      time.Time         `json:"time"`
	QueueID   string            `json:"queue_id"`
	MessageID string            `json:"message_id"`
	Sender    string            `json:"sender"`
	Recipient string            `json:"recipient"`
	DSN       string            `json:"dsn"`
	Reply     string            `json:"reply"`
	MX        string            `json:"mx"`
	Attempt   int               `json:"attempt"`
	Metadata  map[string]string `json:"metadata"`
}

// hookReceiver is a webhook endpoint on loopback. It checks every
// signature with its own HMAC (not mxout's code), answers with what
// answer says (nil: 200), and keeps the events of acknowledged batches.
type hookReceiver struct {
	t      *testing.T
	secret string
	srv    *httptest.Server
	answer func(post int) int

	mu         sync.Mutex
	posts      int
	badSig     int
	events     []wireEvent // acknowledged, in order, repeats kept
	maxBatch   int
	lastHeader string
}

func newHookReceiver(t *testing.T, answer func(post int) int) *hookReceiver {
	h := &hookReceiver{t: t, secret: "e2e-webhook-secret", answer: answer}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookReceiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	n := h.posts
	h.posts++
	h.lastHeader = r.Header.Get("Mxout-Signature")
	if !validSignature(h.secret, h.lastHeader, body) {
		h.badSig++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	status := http.StatusOK
	if h.answer != nil {
		status = h.answer(n)
	}
	if status/100 == 2 {
		var batch struct {
			Events []wireEvent `json:"events"`
		}
		if err := json.Unmarshal(body, &batch); err != nil {
			h.t.Errorf("webhook body is not {\"events\": [...]}: %v", err)
		}
		h.events = append(h.events, batch.Events...)
		h.maxBatch = max(h.maxBatch, len(batch.Events))
	}
	w.WriteHeader(status)
}

// validSignature checks "t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>"
// as a receiver following docs/quickstart-apps.md would.
func validSignature(secret, header string, body []byte) bool {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		return false
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "."))
	m.Write(body)
	got, err := hex.DecodeString(sig)
	return err == nil && hmac.Equal(got, m.Sum(nil))
}

// got returns the acknowledged events, repeats removed, in order.
func (h *hookReceiver) got() []wireEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	seen := map[string]bool{}
	var out []wireEvent
	for _, e := range h.events {
		if !seen[e.ID] {
			seen[e.ID] = true
			out = append(out, e)
		}
	}
	return out
}

// of returns the acknowledged events about recipient.
func (h *hookReceiver) of(recipient string) []wireEvent {
	var out []wireEvent
	for _, e := range h.got() {
		if e.Recipient == recipient {
			out = append(out, e)
		}
	}
	return out
}
