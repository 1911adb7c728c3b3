package ststest

import (
	"crypto/tls"
	"io"
	"net/http"
	"testing"

	"github.com/mxout/mxout/internal/testcert"
)

func TestPolicy(t *testing.T) {
	t.Parallel()
	cert, err := testcert.New("mta-sts.x.example", "mta-sts.x.example")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(t, "127.0.0.1:0", cert.TLS, Policy("version: STSv1\n"))
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: cert.Pool(), ServerName: "mta-sts.x.example"},
	}}
	get := func(path string) (int, string, string) {
		t.Helper()
		resp, err := client.Get("https://" + s.Addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}
	if code, ct, body := get(WellKnown); code != 200 || ct != "text/plain; charset=utf-8" || body != "version: STSv1\n" {
		t.Errorf("policy: %d %q %q", code, ct, body)
	}
	if code, _, _ := get("/other"); code != http.StatusNotFound {
		t.Errorf("another path: %d", code)
	}
	s.Set(Policy(""))
	if code, _, _ := get(WellKnown); code != http.StatusServiceUnavailable {
		t.Errorf("down: %d", code)
	}
	if s.Hits() != 3 {
		t.Errorf("hits %d, want 3", s.Hits())
	}
}
