package mtasts_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mxout/mxout/internal/netguard"
	"github.com/mxout/mxout/internal/testcert"
	"github.com/mxout/mxout/mtasts"
	"github.com/mxout/mxout/resolver/dnstest"
)

// TestFetchRules checks the RFC 8461 §3.3 rules one server at a time: a
// fetch that breaks one gives no policy, and the error says which kind of
// failure it was (for the TLS report).
func TestFetchRules(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	selfSigned, err := testcert.New("mta-sts.selfsigned.example", "mta-sts.selfsigned.example")
	if err != nil {
		t.Fatal(err)
	}
	wrongName, err := testCA.Issue("mta-sts.other.example", "mta-sts.other.example")
	if err != nil {
		t.Fatal(err)
	}
	expired, err := testCA.IssueExpired("mta-sts.expired.example", "mta-sts.expired.example")
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	tests := []struct {
		domain string
		cert   *testcert.Pair
		h      http.HandlerFunc
		want   error // nil: the enforce policy is found
	}{
		{"ok.example", nil, serve(enforcePolicy), nil},
		{"redirect.example", nil, func(rw http.ResponseWriter, r *http.Request) {
			http.Redirect(rw, r, "https://mta-sts.ok.example/.well-known/mta-sts.txt", http.StatusMovedPermanently)
		}, mtasts.ErrFetch},
		{"notfound.example", nil, http.NotFound, mtasts.ErrFetch},
		{"html.example", nil, func(rw http.ResponseWriter, r *http.Request) {
			rw.Header().Set("Content-Type", "text/html")
			rw.Write([]byte(enforcePolicy))
		}, mtasts.ErrFetch},
		{"big.example", nil, serve(enforcePolicy + strings.Repeat("x: y\r\n", 11000)), mtasts.ErrFetch},
		{"slow.example", nil, func(rw http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}, mtasts.ErrFetch},
		{"selfsigned.example", selfSigned, serve(enforcePolicy), mtasts.ErrWebPKI},
		{"wrongname.example", wrongName, serve(enforcePolicy), mtasts.ErrWebPKI},
		{"expired.example", expired, serve(enforcePolicy), mtasts.ErrWebPKI},
		{"invalid.example", nil, serve("version: STSv1\nmode: strict\n"), mtasts.ErrPolicyInvalid},
	}
	c := w.cache(mtasts.Config{Timeout: 2 * time.Second})
	for _, tt := range tests {
		w.policyServer(tt.domain, "1", tt.cert, tt.h)
	}
	for _, tt := range tests {
		t.Run(tt.domain, func(t *testing.T) {
			t.Parallel()
			res := c.Lookup(context.Background(), tt.domain)
			if tt.want == nil {
				if res.Err != nil || res.Policy == nil || res.Policy.Mode != mtasts.Enforce || res.ID != "1" {
					t.Fatalf("Lookup = %+v, want the enforce policy with id 1", res)
				}
				return
			}
			if res.Policy != nil || !errors.Is(res.Err, tt.want) {
				t.Errorf("Lookup = policy %+v, err %v; want no policy and %v", res.Policy, res.Err, tt.want)
			}
		})
	}
}

// TestFetchThroughOwnResolverAndGuard: the policy host is resolved by
// mxout's resolver, and the fetch never connects to an address the
// delivery guard refuses.
func TestFetchThroughOwnResolverAndGuard(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ps := w.policyServer("guarded.example", "7", nil, serve(enforcePolicy))

	strict := w.cache(mtasts.Config{}, netguard.New(nil)) // no exemptions: loopback refused
	res := strict.Lookup(context.Background(), "guarded.example")
	if res.Policy != nil || !errors.Is(res.Err, netguard.ErrNoAddress) || !errors.Is(res.Err, mtasts.ErrFetch) {
		t.Errorf("Lookup with loopback refused = %+v, want ErrFetch wrapping netguard.ErrNoAddress", res)
	}
	if n := ps.Hits(); n != 0 {
		t.Errorf("the policy server got %d requests through a guard that refuses it", n)
	}

	allowed := w.cache(mtasts.Config{})
	if res := allowed.Lookup(context.Background(), "guarded.example"); res.Policy == nil {
		t.Fatalf("Lookup with loopback allowed = %+v", res)
	}
	asked := false
	for _, q := range w.dns.Queries() {
		asked = asked || q == dnstest.Query{Name: "mta-sts.guarded.example", Type: "A"}
	}
	if !asked {
		t.Errorf("the test DNS server was never asked for mta-sts.guarded.example: %v", w.dns.Queries())
	}
}
