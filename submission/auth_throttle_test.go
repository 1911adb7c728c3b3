package submission

import (
	"encoding/base64"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/internal/testclock"
)

func TestAuth_RefusedBeforeTLS(t *testing.T) {
	t.Parallel()
	fq := &fakeQueue{}
	h := start(t, authConfig(t), fq, configs.TLSStartTLS)
	c := dialRaw(t, h.addr)
	if r := c.cmd("EHLO client.example"); strings.Contains(r, "AUTH") {
		t.Errorf("AUTH offered before TLS: %q", r)
	}
	c.must(authPlain("app", "s3cret"), "523 5.7.10 TLS is required")
	c.must("AUTH LOGIN", "523 5.7.10")
	c.must("MAIL FROM:<a@example.org>", "530 5.7.0 Authentication required")
	// The same credentials work once TLS is up.
	c.startTLS(h.client)
	c.must("EHLO client.example", "250")
	c.must(authPlain("app", "s3cret"), "235 2.0.0")
	if v := testutil.ToFloat64(h.m.AuthFailures); v != 0 {
		t.Errorf("auth failures %v: refusals for want of TLS are not password failures", v)
	}
}

func TestAuth_PlaintextForTrustedOnlyWhenAllowed(t *testing.T) {
	t.Parallel()
	cfg := authConfig(t)
	cfg.TrustedNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}
	cfg.AllowPlaintextAuthFromTrusted = true
	fq := &fakeQueue{}
	h := start(t, cfg, fq, configs.TLSNone)

	untrusted := dialRawFrom(t, h.addr, "127.0.0.1")
	untrusted.expect("220 ")
	if r := untrusted.cmd("EHLO client.example"); strings.Contains(r, "AUTH") {
		t.Errorf("AUTH offered in plaintext to an untrusted client: %q", r)
	}
	untrusted.must(authPlain("app", "s3cret"), "523 5.7.10")
	untrusted.must("MAIL FROM:<a@example.org>", "530 5.7.0")

	trusted := dialRawFrom(t, h.addr, "127.0.0.2")
	trusted.expect("220 ")
	if r := trusted.cmd("EHLO client.example"); !strings.Contains(r, "AUTH PLAIN LOGIN") {
		t.Errorf("AUTH not offered to a trusted client: %q", r)
	}
	trusted.must(authPlain("app", "s3cret"), "235")
	// Authenticated, the user's allowed senders apply even when trusted.
	trusted.must("MAIL FROM:<ceo@example.com>", "553 5.7.1")
	queuedID(t, trusted.send("a@example.org", []string{"b@example.com"}, dotEnd(message("Subject: x", "", "y"))))
	if m := fq.messages(); len(m) != 1 || m[0].env.User != "app" || !strings.Contains(string(m[0].body), " with ESMTPA id ") {
		t.Errorf("messages %+v", m)
	}
}

func TestAuth_ThrottledPerSession(t *testing.T) {
	t.Parallel()
	h := start(t, authConfig(t), &fakeQueue{}, configs.TLSImplicit)
	c := dialTLSRaw(t, h, "")
	c.must(authPlain("app", "one"), "535 5.7.8 Authentication credentials invalid")
	c.must(authPlain("nobody", "two"), "535 5.7.8")
	// The third failure (max_failures_per_session) is the last.
	c.must(authPlain("app", "three"), "535 5.7.8")
	c.expectClosed(closeWait)
	if v := testutil.ToFloat64(h.m.AuthFailures); v != 3 {
		t.Errorf("auth failures %v, want 3", v)
	}
}

func TestAuth_ThrottledPerIPAcrossSessions(t *testing.T) {
	t.Parallel()
	cfg := authConfig(t)
	cfg.AuthThrottle.MaxFailuresPerIP = 4
	h := start(t, cfg, &fakeQueue{}, configs.TLSImplicit)

	c := dialTLSRaw(t, h, "127.0.0.1")
	for range 3 {
		c.must(authPlain("app", "wrong"), "535 5.7.8")
	}
	c.expectClosed(closeWait)

	c = dialTLSRaw(t, h, "127.0.0.1")
	c.must(authPlain("bob@example.com", "wrong"), "535 5.7.8") // the fourth from this address
	c.expectClosed(closeWait)

	// Over the limit, even the right password is not looked at.
	c = dialTLSRaw(t, h, "127.0.0.1")
	c.must(authPlain("app", "s3cret"), "454 4.7.0 Too many failed authentication attempts, try again later")
	c.expectClosed(closeWait)

	// Another address is not affected.
	c = dialTLSRaw(t, h, "127.0.0.2")
	c.must(authPlain("app", "s3cret"), "235")
	if v := testutil.ToFloat64(h.m.AuthFailures); v != 5 {
		t.Errorf("auth failures %v, want 5 (4 wrong passwords, 1 throttled)", v)
	}
}

// Failures lock a username out only for the address they came from:
// strangers failing with app's name from other addresses cannot keep app
// out, and app's right password from an address without failures works.
func TestAuth_NoLockOutByStrangers(t *testing.T) {
	t.Parallel()
	cfg := authConfig(t)
	cfg.AuthThrottle.MaxFailuresPerUser = 2
	clock := testclock.New(testNow())
	cfg.Now = clock.Now
	h := start(t, cfg, &fakeQueue{}, configs.TLSImplicit)

	c := dialTLSRaw(t, h, "127.0.0.1")
	c.must(authPlain("app", "wrong"), "535 5.7.8")
	c.must("NOOP", "250")                          // one failure: the session goes on
	c.must(authPlain("app", "wrong"), "535 5.7.8") // the second for app from here
	c.expectClosed(closeWait)

	// From 127.0.0.1, app is locked out, even with the right password.
	c = dialTLSRaw(t, h, "127.0.0.1")
	c.must(authPlain("app", "s3cret"), "454 4.7.0")
	c.expectClosed(closeWait)
	c = dialTLSRaw(t, h, "127.0.0.1")
	// LOGIN sends the username first; it is checked after the password.
	b64 := base64.StdEncoding.EncodeToString
	c.must("AUTH LOGIN "+b64([]byte("app")), "334 ")
	c.must(b64([]byte("s3cret")), "454 4.7.0")
	c.expectClosed(closeWait)
	// Other users from the same address are not affected.
	c = dialTLSRaw(t, h, "127.0.0.1")
	c.must(authPlain("bob@example.com", "hunter2"), "235")

	// Another stranger fails with app's name: app has 3 failures now.
	c = dialTLSRaw(t, h, "127.0.0.2")
	c.must(authPlain("app", "wrong"), "535 5.7.8")

	// app itself, from an address with no failures, gets in and sends.
	c = dialTLSRaw(t, h, "127.0.0.3")
	c.must(authPlain("app", "s3cret"), "235")
	c.must("MAIL FROM:<a@example.org>", "250")

	// The lock of 127.0.0.1 ends with the window.
	clock.Advance(2 * cfg.AuthThrottle.Window)
	c = dialTLSRaw(t, h, "127.0.0.1")
	c.must(authPlain("app", "s3cret"), "235")
	if v := testutil.ToFloat64(h.m.AuthFailures); v != 5 {
		t.Errorf("auth failures %v, want 5 (3 wrong passwords, 2 throttled)", v)
	}
}

// A username's failures from all addresses slow every AUTH for it down,
// one delay per max_failures_per_user of them, right passwords too; other
// usernames are not slowed down.
func TestAuth_PerUserFailuresOnlyAddDelay(t *testing.T) {
	t.Parallel()
	const delay = 300 * time.Millisecond
	cfg := authConfig(t)
	cfg.AuthThrottle.MaxFailuresPerUser = 2
	cfg.AuthThrottle.Delay = delay
	h := start(t, cfg, &fakeQueue{}, configs.TLSImplicit)
	fail := func(from string) {
		c := dialTLSRaw(t, h, from)
		c.must(authPlain("app", "wrong"), "535 5.7.8")
	}
	// timedAuth logs in as user from a fresh address; a lower bound
	// only: the reply waits at least that long.
	timedAuth := func(from, user, password string, atLeast time.Duration) {
		c := dialTLSRaw(t, h, from)
		begin := time.Now()
		c.must(authPlain(user, password), "235")
		if d := time.Since(begin); d < atLeast {
			t.Errorf("%s from %s answered after %v, before %v", user, from, d, atLeast)
		}
	}
	fail("127.0.0.1")
	fail("127.0.0.2")
	timedAuth("127.0.0.3", "app", "s3cret", delay) // 2 failures: one delay
	fail("127.0.0.4")
	fail("127.0.0.5")
	timedAuth("127.0.0.6", "app", "s3cret", 2*delay) // 4 failures: two
	timedAuth("127.0.0.6", "bob@example.com", "hunter2", 0)
	if !strings.Contains(h.logs.String(), "auth slowed down: many failures for this username") {
		t.Errorf("no log line for the delay:\n%s", h.logs)
	}
}

func TestAuth_FailureDelay(t *testing.T) {
	t.Parallel()
	const delay = 200 * time.Millisecond
	cfg := authConfig(t)
	cfg.AuthThrottle.Delay = delay
	cfg.AuthThrottle.MaxFailuresPerIP = 1
	h := start(t, cfg, &fakeQueue{}, configs.TLSImplicit)
	for _, step := range []struct{ password, want string }{
		{"wrong", "535 5.7.8"},  // a failure...
		{"s3cret", "454 4.7.0"}, // ...and a throttled attempt wait alike
	} {
		c := dialTLSRaw(t, h, "")
		begin := time.Now()
		c.must(authPlain("app", step.password), step.want)
		// A lower bound only: the reply waits for the delay.
		if d := time.Since(begin); d < delay {
			t.Errorf("%s answered after %v, before the %v delay", step.want, d, delay)
		}
		c.expectClosed(closeWait)
	}
}

func TestSetUsers_AppliesToNewAndOpenSessions(t *testing.T) {
	t.Parallel()
	cfg := authConfig(t)
	h := start(t, cfg, &fakeQueue{}, configs.TLSImplicit)
	app := dialTLSRaw(t, h, "")
	app.must(authPlain("app", "s3cret"), "235")
	bob := dialTLSRaw(t, h, "")
	bob.must(authPlain("bob@example.com", "hunter2"), "235")

	bad := []User{{Username: "x", PasswordHash: "not bcrypt"}}
	if err := h.srv.SetUsers(bad); err == nil {
		t.Fatal("SetUsers accepted a bad hash")
	}
	app.must("MAIL FROM:<a@example.org>", "250") // the old users stay
	app.must("RSET", "250")

	if err := h.srv.SetUsers([]User{
		{Username: "app", PasswordHash: hash(t, "new"), AllowedSenders: []string{"*@example.net"}},
		{Username: "carol", PasswordHash: hash(t, "pw"), AllowedSenders: []string{"*"}},
	}); err != nil {
		t.Fatal(err)
	}
	// app keeps its session with its new allowed senders; bob is gone.
	app.must("MAIL FROM:<a@example.org>", "553 5.7.1")
	app.must("MAIL FROM:<a@example.net>", "250")
	bob.must("MAIL FROM:<bob@example.com>", "530 5.7.0")
	c := dialTLSRaw(t, h, "")
	c.must(authPlain("app", "s3cret"), "535")
	c.must(authPlain("carol", "pw"), "235")
}

func TestRcpt_RelayPermissionCheckedAgain(t *testing.T) {
	t.Parallel()
	srv, err := New(authConfig(t), &fakeQueue{})
	if err != nil {
		t.Fatal(err)
	}
	// A session that somehow got past MAIL without being allowed to.
	s := &session{srv: srv, tc: &trackedConn{s: srv}, mailOK: true}
	for _, to := range []string{"b@example.com", "postmaster@relay.example.net"} {
		err := s.Rcpt(to, nil)
		wantCode(t, "RCPT "+to, err, 530, [3]int{5, 7, 0})
	}
	if len(s.env.To) != 0 {
		t.Errorf("recipients %v", s.env.To)
	}
}
