package ststest

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/mxout/mxout/internal/testcert"
	"github.com/mxout/mxout/resolver"
	"github.com/mxout/mxout/resolver/dnstest"
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

// Publish points the policy host's A record at the server and publishes
// the TXT record with the id; without an id, no TXT record.
func TestPublish(t *testing.T) {
	t.Parallel()
	cert, err := testcert.New("mta-sts.x.example", "mta-sts.x.example")
	if err != nil {
		t.Fatal(err)
	}
	zone := dnstest.NewServer(t, nil)
	r, err := resolver.New(resolver.Config{Servers: []string{zone.Addr}, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s := NewServer(t, "127.0.0.1:0", cert.TLS, Policy("version: STSv1\n"))
	if got := s.Publish(zone, "x.example", "abc"); got != s {
		t.Errorf("Publish returned %p, want the server %p", got, s)
	}
	if txt, err := r.LookupTXT(ctx, "_mta-sts.x.example"); err != nil || !slices.Equal(txt, []string{"v=STSv1; id=abc;"}) {
		t.Errorf("TXT = %q, %v", txt, err)
	}
	if addrs, err := r.LookupAddrs(ctx, "mta-sts.x.example"); err != nil || len(addrs) != 1 || addrs[0] != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("A = %v, %v; want 127.0.0.1", addrs, err)
	}
	s.Publish(zone, "none.example", "")
	if txt, err := r.LookupTXT(ctx, "_mta-sts.none.example"); err == nil {
		t.Errorf("TXT without an id = %q, want none", txt)
	}
}
