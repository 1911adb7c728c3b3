package admin

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/mxout/mxout/mtasts"
	"github.com/mxout/mxout/resolver"
	"github.com/mxout/mxout/resolver/dnstest"
)

// TestAPI_MTASTSPolicy: mxout tls check reads the relay's cached MTA-STS
// policy of a domain.
func TestAPI_MTASTSPolicy(t *testing.T) {
	t.Parallel()
	res, err := resolver.New(resolver.Config{Servers: []string{dnstest.NewServer(t, nil).Addr}, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cache, err := mtasts.New(mtasts.Config{Resolver: res})
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	pol, err := mtasts.ParsePolicy([]byte("version: STSv1\nmode: enforce\nmx: *.sts.example\nmax_age: 86400\n"))
	if err != nil {
		t.Fatal(err)
	}
	fetched := time.Now().Add(-time.Hour).Truncate(time.Second)
	cache.Add("sts.example", mtasts.Result{Policy: pol, ID: "20260101", Fetched: fetched})

	c := serve(t, openQueue(t), Config{MTASTS: cache})
	p, found, err := c.MTASTSPolicy(context.Background(), "STS.example")
	if err != nil || !found || p.ID != "20260101" || !p.Fetched.Equal(fetched) || p.Policy != pol.String() {
		t.Errorf("MTASTSPolicy = %+v, %v, %v", p, found, err)
	}
	if _, found, err := c.MTASTSPolicy(context.Background(), "other.example"); found || err != nil {
		t.Errorf("a domain without a policy: found %v, %v", found, err)
	}
	off := serve(t, openQueue(t), Config{})
	if _, found, err := off.MTASTSPolicy(context.Background(), "sts.example"); found || err != nil {
		t.Errorf("MTA-STS off: found %v, %v", found, err)
	}
	err = off.do(context.Background(), http.MethodGet, "/v1/tls/mta-sts/sts.example", nil, &MTASTSPolicy{})
	if apiStatus(err) != http.StatusNotImplemented {
		t.Errorf("MTA-STS off: %v, want 501", err)
	}
}
