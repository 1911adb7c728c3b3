package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// The HTTP API load submits through mxout's POST /v1/send (docs/api.md)
// instead of SMTP, into the same sinks, so that the two ways in compare on
// one machine. Postfix has no such API: the api generators run on mxout
// alone.

// benchToken is the bearer token of the API key every mxout run has.
const benchToken = "mxo_mxout-bench-token"

// benchKey is the api.keys entry that accepts benchToken for the
// benchmark's senders.
func benchKey() map[string]any {
	sum := sha256.Sum256([]byte(benchToken))
	return map[string]any{"name": "bench", "token_sha256": hex.EncodeToString(sum[:]),
		"allowed_senders": []any{"*@sender.bench.invalid"}}
}

// apiRelay is a relay that serves mxout's HTTP send API.
type apiRelay interface {
	APIAddr() string
}

// apiLoad posts the workload's messages to /v1/send: in the built shape
// (JSON fields; mxout writes the MIME message) or, with raw, the message
// the SMTP load sends, byte for byte.
type apiLoad struct{ raw bool }

func (l apiLoad) Name() string {
	if l.raw {
		return "api-raw"
	}
	return "api"
}

func (l apiLoad) Describe() string {
	shape := "built shape (from, to, subject, text)"
	if l.raw {
		shape = "raw shape (the SMTP load's message)"
	}
	return "mxout-bench's Go HTTP clients, POST /v1/send, " + shape + ", an Idempotency-Key each, connections kept"
}

func (apiLoad) supports(workload) error { return nil }

func (apiLoad) target(rl relay) (string, error) {
	a, ok := rl.(apiRelay)
	if !ok {
		return "", fmt.Errorf("%s has no HTTP send API", rl.Name())
	}
	return a.APIAddr(), nil
}

func (l apiLoad) drive(addr string, w *world, wl workload, rec *recorder, domains []string) (loadResult, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: wl.Clients, DisableCompression: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: ioTimeout}
	url := "http://" + addr + "/v1/send"
	return driveWith(w, newMessages(wl, rec, domains), func() (submitter, error) {
		return &apiClient{hc: hc, url: url, raw: l.raw}, nil
	}), nil
}

// apiClient is one client of the send API; the connections it uses are
// kept by the shared transport.
type apiClient struct {
	hc  *http.Client
	url string
	raw bool
}

func (c *apiClient) Close() {}

func (c *apiClient) abort() {}

// send posts one message and returns the time from the request's start to
// the 202, which mxout sends once the message is synced to disk.
func (c *apiClient) send(from string, to []string, header, body []byte) (time.Duration, error) {
	var req any
	if c.raw {
		req = map[string]any{"envelope_from": from, "recipients": to, "raw": string(header) + string(body)}
	} else {
		req = map[string]any{"from": from, "to": to, "subject": "mxout-bench " + from, "text": string(body)}
	}
	b, err := json.Marshal(req)
	if err != nil {
		return 0, err
	}
	r, err := http.NewRequest(http.MethodPost, c.url, bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	r.Header.Set("Authorization", "Bearer "+benchToken)
	r.Header.Set("Content-Type", "application/json")
	// The sender is unique per message: a retry after a broken
	// connection queues nothing twice.
	r.Header.Set("Idempotency-Key", from)
	start := time.Now()
	resp, err := c.hc.Do(r)
	if err != nil {
		return 0, err
	}
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	took := time.Since(start)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusAccepted {
		return 0, fmt.Errorf("%w: %d %s", errTransaction, resp.StatusCode, bytes.TrimSpace(answer))
	}
	return took, nil
}
