// Package testhttp makes the HTTP calls of tests to servers on loopback
// (the send API, its event feed, the metrics listener): one request, its
// answer read whole, any error failing the test.
package testhttp

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// Do sends a request with http.DefaultClient: with the bearer token
// (none when ""), Content-Type application/json when there is a body,
// and headers given as name, value pairs, which may replace those. It
// returns the response and its body, read and closed.
func Do(t testing.TB, method, url, token string, body []byte, headers ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if len(body) > 0 {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// JSON is v as a request body: marshalled, or as it is when it is a
// string (a body written by hand, broken on purpose).
func JSON(t testing.TB, v any) []byte {
	t.Helper()
	if s, ok := v.(string); ok {
		return []byte(s)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
