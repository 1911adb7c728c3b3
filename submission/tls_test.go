package submission

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mxout/mxout/configs"
)

// authConfig is a config with no trusted network and two users.
func authConfig(t *testing.T) Config {
	cfg := testConfig()
	cfg.TrustedNetworks = nil
	cfg.Users = []User{
		{Username: "app", PasswordHash: hash(t, "s3cret"), AllowedSenders: []string{"*@example.org", "alerts@example.net"}},
		{Username: "bob@example.com", PasswordHash: hash(t, "hunter2")},
	}
	return cfg
}

func wantCode(t *testing.T, what string, err error, code int, enh smtp.EnhancedCode) {
	t.Helper()
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != code || se.EnhancedCode != enh {
		t.Errorf("%s: %v, want %d %v", what, err, code, enh)
	}
}

func sendVia(c *smtp.Client, from, to string) error {
	return c.SendMail(from, []string{to}, strings.NewReader(message("Subject: t", "", "body")))
}

func TestAuth_OverSTARTTLS(t *testing.T) {
	t.Parallel()
	fq := &fakeQueue{}
	h := start(t, authConfig(t), fq, configs.TLSStartTLS)

	rc := dialRaw(t, h.addr)
	ehlo := rc.cmd("EHLO client.example")
	if strings.Contains(ehlo, "AUTH") || !strings.Contains(ehlo, "STARTTLS") {
		t.Errorf("EHLO before STARTTLS: %q", ehlo)
	}
	rc.must("MAIL FROM:<a@example.org>", "530 5.7.0 Authentication required")

	c, err := smtp.DialStartTLS(h.addr, h.client)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ok, mechs := c.Extension("AUTH"); !ok || mechs != "PLAIN LOGIN" {
		t.Errorf("AUTH after STARTTLS: %v %q", ok, mechs)
	}
	wantCode(t, "wrong password", c.Auth(sasl.NewPlainClient("", "app", "wrong")), 535, smtp.EnhancedCode{5, 7, 8})
	wantCode(t, "unknown user", c.Auth(sasl.NewPlainClient("", "nobody", "s3cret")), 535, smtp.EnhancedCode{5, 7, 8})
	if v := testutil.ToFloat64(h.m.AuthFailures); v != 2 {
		t.Errorf("auth failures %v, want 2", v)
	}
	if err := c.Auth(sasl.NewPlainClient("", "app", "s3cret")); err != nil {
		t.Fatalf("PLAIN: %v", err)
	}
	if err := sendVia(c, "news@example.org", "x@example.com"); err != nil {
		t.Fatalf("send as allowed sender: %v", err)
	}
	if err := sendVia(c, "alerts@EXAMPLE.net", "x@example.com"); err != nil {
		t.Fatalf("send as allowed address, domain in other case: %v", err)
	}
	wantCode(t, "sender outside allowed_senders", c.Mail("ceo@example.com", nil), 553, smtp.EnhancedCode{5, 7, 1})
	wantCode(t, "local part must match exactly", c.Mail("Alerts@example.net", nil), 553, smtp.EnhancedCode{5, 7, 1})
	wantCode(t, "null sender needs *", c.Mail("", nil), 553, smtp.EnhancedCode{5, 7, 1})

	msgs := fq.messages()
	if len(msgs) != 2 {
		t.Fatalf("%d messages, want 2", len(msgs))
	}
	if m := msgs[0]; m.env.User != "app" || !strings.Contains(string(m.body), " with ESMTPSA id "+string(m.id)) {
		t.Errorf("user %q, body %q", m.env.User, m.body)
	}
}

func TestAuth_LOGIN(t *testing.T) {
	t.Parallel()
	fq := &fakeQueue{}
	h := start(t, authConfig(t), fq, configs.TLSStartTLS)

	// With an initial response (go-sasl's client).
	c, err := smtp.DialStartTLS(h.addr, h.client)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	wantCode(t, "LOGIN wrong password", c.Auth(sasl.NewLoginClient("bob@example.com", "nope")), 535, smtp.EnhancedCode{5, 7, 8})
	if err := c.Auth(sasl.NewLoginClient("bob@example.com", "hunter2")); err != nil {
		t.Fatalf("LOGIN: %v", err)
	}
	// Empty allowed_senders: only the username itself.
	wantCode(t, "other sender", c.Mail("alice@example.com", nil), 553, smtp.EnhancedCode{5, 7, 1})
	if err := sendVia(c, "bob@example.com", "x@example.org"); err != nil {
		t.Fatalf("send as the username: %v", err)
	}

	// Without an initial response, as older clients do it.
	rc := dialRaw(t, h.addr)
	rc.must("EHLO client.example", "250")
	rc.startTLS(h.client)
	rc.must("EHLO client.example", "250")
	b64 := base64.StdEncoding.EncodeToString
	if r := rc.cmd("AUTH LOGIN"); r != "334 "+b64([]byte("Username:")) {
		t.Fatalf("AUTH LOGIN: %q", r)
	}
	if r := rc.cmd(b64([]byte("app"))); r != "334 "+b64([]byte("Password:")) {
		t.Fatalf("username: %q", r)
	}
	rc.must(b64([]byte("s3cret")), "235 2.0.0")
	rc.must("MAIL FROM:<a@example.org>", "250")
	if v := testutil.ToFloat64(h.m.AuthFailures); v != 1 {
		t.Errorf("auth failures %v, want 1", v)
	}
}

func TestAuth_NotOverPlaintextListener(t *testing.T) {
	t.Parallel()
	h := start(t, authConfig(t), &fakeQueue{}, configs.TLSNone)
	c := dialRaw(t, h.addr)
	if r := c.cmd("EHLO client.example"); strings.Contains(r, "AUTH") || strings.Contains(r, "STARTTLS") {
		t.Errorf("plain listener offers %q", r)
	}
	c.must("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00app\x00s3cret")), "523 5.7.10")
	c.must("MAIL FROM:<a@example.org>", "530 5.7.0")
}

func TestImplicitTLS_Relay(t *testing.T) {
	t.Parallel()
	fq := &fakeQueue{}
	h := start(t, authConfig(t), fq, configs.TLSImplicit)
	c, err := smtp.DialTLS(h.addr, h.client)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Error("STARTTLS offered inside implicit TLS")
	}
	if err := c.Auth(sasl.NewPlainClient("app", "app", "s3cret")); err != nil {
		t.Fatal(err)
	}
	if err := sendVia(c, "a@example.org", "b@example.com"); err != nil {
		t.Fatal(err)
	}
	if m := fq.messages(); len(m) != 1 || !strings.Contains(string(m[0].body), "with ESMTPSA id") {
		t.Errorf("messages %+v", m)
	}
}

// A MAIL pipelined behind STARTTLS, in the same packet, must be dropped:
// a man in the middle could otherwise inject plaintext commands that run
// inside the TLS session (CVE-2011-0411 and kin).
func TestSTARTTLS_PipelinedCommandDropped(t *testing.T) {
	t.Parallel()
	fq := &fakeQueue{}
	h := start(t, testConfig(), fq, configs.TLSStartTLS) // 127.0.0.1 is trusted
	rc := dialRaw(t, h.addr)
	rc.must("EHLO client.example", "250")
	rc.write("STARTTLS\r\nMAIL FROM:<a@b.example>\r\n")
	rc.expect("220 ")
	rc.handshake(h.client)
	// The session starts afresh: no MAIL, not even EHLO.
	rc.must("RCPT TO:<c@d.example>", "502 5.5.1")
	rc.must("EHLO client.example", "250")
	rc.must("RCPT TO:<c@d.example>", "502 5.5.1")
	rc.must("DATA", "502 5.5.1")
	if n := len(fq.messages()); n != 0 {
		t.Errorf("%d messages enqueued", n)
	}
}

func TestAuth_NotDuringTransaction(t *testing.T) {
	t.Parallel()
	cfg := authConfig(t)
	cfg.TrustedNetworks = testConfig().TrustedNetworks // MAIL allowed without AUTH
	h := start(t, cfg, &fakeQueue{}, configs.TLSImplicit)
	tc, err := tls.Dial("tcp", h.addr, h.client)
	if err != nil {
		t.Fatal(err)
	}
	rc := &rawConn{t: t, c: tc, r: bufio.NewReader(tc)}
	t.Cleanup(func() { tc.Close() })
	rc.expect("220 ")
	rc.must("EHLO client.example", "250")
	rc.must("AUTH CRAM-MD5", "504 5.7.4")
	rc.must("MAIL FROM:<anyone@example.com>", "250")
	plain := base64.StdEncoding.EncodeToString([]byte("\x00app\x00s3cret"))
	rc.must("AUTH PLAIN "+plain, "503 5.5.1")
	rc.must("RSET", "250")
	rc.must("AUTH PLAIN "+plain, "235 2.0.0")
}
