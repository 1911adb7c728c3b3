package submission

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/internal/testwait"
)

// A client that authenticates gives its slot among the strangers back:
// another stranger may connect, up to the overall cap.
func TestConnectionCaps_AuthenticatedLeaveTheStrangersSlots(t *testing.T) {
	t.Parallel()
	cfg := authConfig(t)
	cfg.MaxConnections, cfg.MaxConnectionsPerIP = 5, 5 // strangers: 4
	h := start(t, cfg, &fakeQueue{}, configs.TLSStartTLS)
	var strangers []*rawConn
	for range 4 {
		strangers = append(strangers, dialRaw(t, h.addr))
	}
	const full = "421 4.7.0 relay.example.net Too many connections, try again later"
	if r := dialRawFrom(t, h.addr, "").reply(); r != full {
		t.Fatalf("fifth stranger: %q, want %q", r, full)
	}
	c := strangers[0]
	c.must("EHLO client.example", "250")
	c.startTLS(h.client)
	c.must("EHLO client.example", "250")
	c.must(authPlain("app", "s3cret"), "235")
	testwait.For(t, closeWait, "the slot to be given back", func() bool { return h.srv.preAuthConns() == 3 })
	dialRaw(t, h.addr).must("EHLO client.example", "250")
	// Now the overall cap (5) is reached.
	if r := dialRawFrom(t, h.addr, "").reply(); r != full {
		t.Fatalf("sixth connection: %q, want %q", r, full)
	}
	// Authenticated, the session goes on past the others.
	queuedID(t, c.send("a@example.org", []string{"b@example.com"}, dotEnd(message("Subject: x", "", "y"))))
	if v := testutil.ToFloat64(h.m.MessagesRejected.WithLabelValues(ReasonConnectionLimit)); v != 2 {
		t.Errorf("connection_limit rejections %v, want 2", v)
	}
}

// An untrusted client that has not authenticated within PreAuthTimeout
// gets 421 4.4.2 and is closed; trusted and authenticated clients stay.
func TestPreAuthTimeout_421AndClose(t *testing.T) {
	t.Parallel()
	cfg := authConfig(t)
	cfg.TrustedNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}
	cfg.PreAuthTimeout = 2 * time.Second
	cfg.ReadTimeout = time.Minute // far beyond the test: only PreAuthTimeout can cut
	h := start(t, cfg, &fakeQueue{}, configs.TLSStartTLS)

	// These two connect first: had they a pre-auth deadline, it would
	// pass before the stranger's.
	authed := dialRawFrom(t, h.addr, "127.0.0.1")
	authed.expect("220 ")
	authed.must("EHLO client.example", "250")
	authed.startTLS(h.client)
	authed.must("EHLO client.example", "250")
	authed.must(authPlain("app", "s3cret"), "235")
	trusted := dialRawFrom(t, h.addr, "127.0.0.2")
	trusted.expect("220 ")
	trusted.must("EHLO client.example", "250")

	stranger := dialRawFrom(t, h.addr, "127.0.0.1")
	stranger.expect("220 ")
	stranger.must("EHLO client.example", "250")
	stranger.c.SetReadDeadline(time.Now().Add(closeWait))
	line, err := stranger.r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "421 4.4.2 ") {
		t.Fatalf("stranger got %q, %v; want 421 4.4.2", line, err)
	}
	stranger.expectClosed(closeWait)

	authed.must("NOOP", "250")
	trusted.must("NOOP", "250")
	if v := testutil.ToFloat64(h.m.MessagesRejected.WithLabelValues(ReasonPreAuthTimeout)); v != 1 {
		t.Errorf("pre_auth_timeout %v, want 1", v)
	}
	if !strings.Contains(h.logs.String(), "no AUTH within the pre-auth timeout") {
		t.Errorf("no log line:\n%s", h.logs)
	}
}

// preAuthConns is how many connections of strangers are counted.
func (s *Server) preAuthConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.preAuth
}
