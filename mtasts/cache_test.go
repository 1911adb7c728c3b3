package mtasts_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/mxout/mxout/internal/testwait"
	"github.com/mxout/mxout/mtasts"
	"github.com/mxout/mxout/queue"
	"github.com/mxout/mxout/queue/queuetest"
	"github.com/mxout/mxout/resolver/dnstest"
)

// TestCacheRefresh walks a policy through RFC 8461 §5.1: cached while the
// id stays, fetched again when it changes, kept when a fetch fails or the
// record goes away, dropped when max_age runs out.
func TestCacheRefresh(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	clk := w.clk
	ps := w.policyServer("sts.example", "1", nil, serve(enforcePolicy))
	c := w.cache(mtasts.Config{})
	ctx := context.Background()
	lookup := func(step string, wantMode mtasts.Mode, wantID string, wantHits int64, wantErr error) mtasts.Result {
		t.Helper()
		res := c.Lookup(ctx, "STS.example.")
		mode := mtasts.Mode("")
		if res.Policy != nil {
			mode = res.Policy.Mode
		}
		if mode != wantMode || res.ID != wantID || ps.Hits() != wantHits || !errors.Is(res.Err, wantErr) || (wantErr == nil && res.Err != nil) {
			t.Fatalf("%s: Lookup = mode %q id %q err %v after %d fetches; want mode %q id %q err %v after %d",
				step, mode, res.ID, res.Err, ps.Hits(), wantMode, wantID, wantErr, wantHits)
		}
		return res
	}

	first := lookup("first", mtasts.Enforce, "1", 1, nil)
	if !first.Policy.Matches("mx.sts.example") || !first.Policy.Matches("a.mx.sts.example") || first.Policy.Matches("evil.example") {
		t.Errorf("policy MX = %v", first.Policy.MX)
	}
	clk.Advance(time.Hour)
	lookup("same id", mtasts.Enforce, "1", 1, nil)
	if got, ok := c.Cached("sts.example"); !ok || !got.Fetched.Equal(first.Fetched) || !got.Expires().Equal(first.Fetched.Add(24*time.Hour)) {
		t.Errorf("Cached = %+v, %v", got, ok)
	}

	ps.Set(serve("version: STSv1\nmode: testing\nmx: mx.sts.example\nmax_age: 86400\n"))
	w.dns.Set("_mta-sts.sts.example", dnstest.Record{Type: "TXT", Value: `"v=STSv1; id=2"`})
	clk.Advance(2 * time.Minute) // past the resolver's cache of the old record
	lookup("new id", mtasts.Testing, "2", 2, nil)

	ps.Set(down)
	w.dns.Set("_mta-sts.sts.example", dnstest.Record{Type: "TXT", Value: `"v=STSv1; id=3"`})
	clk.Advance(2 * time.Minute)
	lookup("fetch fails: cached policy kept", mtasts.Testing, "2", 3, mtasts.ErrFetch)
	clk.Advance(4 * time.Minute)
	lookup("failure remembered, no new fetch", mtasts.Testing, "2", 3, mtasts.ErrFetch)
	ps.Set(serve("version: STSv1\nmode: enforce\nmx: mx.sts.example\nmax_age: 3600\n"))
	clk.Advance(2 * time.Minute)
	lookup("fetched again after five minutes", mtasts.Enforce, "3", 4, nil)
	ps.Set(down)

	w.dns.Set("_mta-sts.sts.example")
	clk.Advance(10 * time.Minute)
	lookup("record gone: cached policy kept", mtasts.Enforce, "3", 4, nil)

	clk.Advance(time.Hour)
	lookup("max_age over: no policy", "", "", 4, nil)
	if _, ok := c.Cached("sts.example"); ok {
		t.Error("an expired policy is still cached")
	}
}

// TestCacheSurvivesRestart stores the policy in the queue database, then
// starts again with the policy server down: the policy still applies.
func TestCacheSurvivesRestart(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ps := w.policyServer("restart.example", "a1", nil, serve(enforcePolicy))
	w.policyServer("short.example", "s1", nil, serve("version: STSv1\nmode: enforce\nmx: mx.short.example\nmax_age: 60\n"))
	clk := w.clk
	opts := queuetest.Options(t.TempDir())
	open := func() (*queue.Queue, *mtasts.Cache) {
		t.Helper()
		q := queuetest.Open(t, opts)
		kv, err := q.KV("mta-sts")
		if err != nil {
			t.Fatal(err)
		}
		return q, w.cache(mtasts.Config{Store: kv})
	}

	q, c := open()
	if res := c.Lookup(context.Background(), "restart.example"); res.Policy == nil {
		t.Fatalf("first Lookup = %+v", res)
	}
	if res := c.Lookup(context.Background(), "short.example"); res.Policy == nil {
		t.Fatalf("first Lookup = %+v", res)
	}
	c.Close()
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}

	ps.Set(down)
	clk.Advance(2 * time.Minute) // short.example's max_age of 60 s is over
	q, c = open()
	defer q.Close()
	cached, ok := c.Cached("restart.example")
	if !ok || cached.Policy.Mode != mtasts.Enforce || cached.ID != "a1" {
		t.Fatalf("after restart, Cached = %+v, %v", cached, ok)
	}
	if _, ok := c.Cached("short.example"); ok {
		t.Error("a policy past its max_age was loaded")
	}
	if res := c.Lookup(context.Background(), "restart.example"); res.Policy == nil || res.Err != nil || ps.Hits() != 1 {
		t.Errorf("after restart, Lookup = %+v after %d fetches; want the stored policy without a fetch", res, ps.Hits())
	}
	w.dns.Set("_mta-sts.restart.example", dnstest.Record{Type: "TXT", Value: `"v=STSv1; id=a2"`})
	clk.Advance(2 * time.Minute) // past the resolver's cache of id a1
	if res := c.Lookup(context.Background(), "restart.example"); res.Policy == nil || res.ID != "a1" || !errors.Is(res.Err, mtasts.ErrFetch) {
		t.Errorf("new id, server down: Lookup = %+v; want the stored policy and ErrFetch", res)
	}
	n := 0
	kv, _ := q.KV("mta-sts")
	kv.Each(func(string, []byte) error { n++; return nil })
	if n != 1 {
		t.Errorf("%d policies stored, want 1 (the expired one deleted at start)", n)
	}
}

// TestCacheOneFetchForConcurrentLookups: deliveries to one domain at once
// share a fetch.
func TestCacheOneFetchForConcurrentLookups(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	release := make(chan struct{})
	ps := w.policyServer("busy.example", "1", nil, func(rw http.ResponseWriter, r *http.Request) {
		<-release
		serve(enforcePolicy)(rw, r)
	})
	c := w.cache(mtasts.Config{})
	var wg sync.WaitGroup
	results := make([]mtasts.Result, 8)
	for i := range results {
		wg.Go(func() { results[i] = c.Lookup(context.Background(), "busy.example") })
	}
	testwait.For(t, 30*time.Second, "the first fetch", func() bool { return ps.Hits() > 0 })
	close(release)
	wg.Wait()
	for i, res := range results {
		if res.Policy == nil {
			t.Errorf("lookup %d = %+v", i, res)
		}
	}
	if n := ps.Hits(); n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}

	// A caller that gives up does not cancel the fetch for the others.
	w.dns.Set("_mta-sts.busy.example", dnstest.Record{Type: "TXT", Value: `"v=STSv1; id=2"`})
	w.clk.Advance(2 * time.Minute) // past the resolver's cache of id 1
	hold := make(chan struct{})
	ps.Set(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { <-hold; serve(enforcePolicy)(rw, r) }))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan mtasts.Result)
	go func() { done <- c.Lookup(ctx, "busy.example") }()
	testwait.For(t, 30*time.Second, "the second fetch", func() bool { return ps.Hits() == 2 })
	cancel()
	if res := <-done; !errors.Is(res.Err, context.Canceled) || res.ID != "1" {
		t.Errorf("cancelled Lookup = %+v, want the cached policy and context.Canceled", res)
	}
	close(hold)
	res := c.Lookup(context.Background(), "busy.example")
	if res.ID != "2" || res.Err != nil || ps.Hits() != 2 {
		t.Errorf("Lookup after the cancelled one = %+v after %d fetches, want id 2 from the one fetch", res, ps.Hits())
	}
}
