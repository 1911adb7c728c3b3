package e2e

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"golang.org/x/crypto/bcrypt"

	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/internal/testwait"
)

// This file runs the built binary against the submission side of issue
// 15: clients that try to spoof, hog connections, lock others out, loop
// or play with line endings.

// wantSMTPError fails unless err is an SMTP reply with code and enhanced
// code.
func wantSMTPError(t *testing.T, what string, err error, code int, enh smtp.EnhancedCode) {
	t.Helper()
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != code || se.EnhancedCode != enh {
		t.Errorf("%s: %v, want %d %d.%d.%d", what, err, code, enh[0], enh[1], enh[2])
	}
}

// sendFrom submits body from an authenticated STARTTLS session as app,
// with MAIL FROM from.
func sendFrom(t *testing.T, r *relay, password, from, body string) error {
	t.Helper()
	c, _ := openSession(t, r)
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", "app", password)); err != nil {
		t.Fatalf("AUTH: %v", err)
	}
	return c.SendMail(from, []string{"someone@dest.example"}, strings.NewReader(body))
}

// A user allowed only *@sender.example writes From: ceo@other.example,
// a domain the relay has a DKIM key for. On main the relay signed it with
// d=other.example, which passes DMARC for other.example. Now it is refused
// with 553 5.7.1: by the From: check, on by default, and by the signer
// itself when that check is turned off.
func TestHostile_DKIMNeverSignsForAnotherUsersDomain(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mx := e.mx("dest.example", 10, smtptest.Options{})
	dkimCfg := map[string]any{"domains": map[string]any{
		"sender.example": map[string]any{"selector": "s1", "private_key_file": e.keygen(t.TempDir(), "sender.example", "s1", "ed25519-sha256")},
		"other.example":  map[string]any{"selector": "s1", "private_key_file": e.keygen(t.TempDir(), "other.example", "s1", "ed25519-sha256")},
	}}
	spoof := strings.ReplaceAll(message("spoof"), "From: app@sender.example", "From: CEO <ceo@other.example>")

	for _, tt := range []struct {
		name  string
		extra map[string]any
		want  string
	}{
		{"check_header_from by default", nil, "From header not allowed for this user"},
		{"check_header_from off: the signer refuses", map[string]any{"check_header_from": false}, "Sender domain not allowed for this user"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := certAndUsers(t, "localhost", map[string]string{"app": "pw"})
			r := startAuthRelay(t, e.newRelay(map[string]any{"dkim": dkimCfg}), dir, tt.extra)
			err := sendFrom(t, r, "pw", "app@sender.example", spoof)
			wantSMTPError(t, "From: ceo@other.example", err, 553, smtp.EnhancedCode{5, 7, 1})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("reply %v, want %q", err, tt.want)
			}
			// The user's own domain is signed, and the signature verifies.
			before := mx.MessageCount()
			if err := sendFrom(t, r, "pw", "app@sender.example", message("own")); err != nil {
				t.Fatalf("From: app@sender.example: %v", err)
			}
			testwait.For(t, 15*time.Second, "the message at the MX", func() bool { return mx.MessageCount() > before })
			got := mx.Messages()[before].Data
			if valid, all := e.verifyDKIM(got); valid != 1 || all != 1 || !strings.Contains(string(got), "d=sender.example") {
				t.Errorf("%d of %d signatures verify, want one for sender.example:\n%s", valid, all, got)
			}
			for _, m := range mx.Messages() {
				if strings.Contains(string(m.Data), "d=other.example") {
					t.Errorf("a message went out signed for other.example:\n%s", m.Data)
				}
			}
		})
	}
}

// config check warns about a user that can authenticate but never send,
// naming its key, and not about users that can.
func TestConfigCheck_WarnsAboutUsersThatCanNeverSend(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	usersFile := filepath.Join(dir, "users.yaml")
	h, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	hash := string(h)
	writeFile(t, usersFile, []byte(fmt.Sprintf("- {username: filebot, password_hash: %q}\n", hash)))
	cfg := filepath.Join(dir, "mxout.yaml")
	writeFile(t, cfg, []byte(fmt.Sprintf(`submission:
  users_file: %s
  users:
    - {username: app, password_hash: %q, allowed_senders: ["*@example.com"]}
    - {username: bot, password_hash: %q}
    - {username: bob@example.com, password_hash: %q}
`, usersFile, hash, hash, hash)))
	out, err := exec.Command(binary(t), "config", "check", "--config", cfg).Output()
	if err != nil {
		t.Fatalf("config check: %v\n%s", err, out)
	}
	for _, want := range []string{
		`# warning: submission.users[1]: user "bot" can never send: its allowed_senders is empty and its username is not an address`,
		`# warning: submission.users_file ` + usersFile + `[0]: user "filebot" can never send`,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("no line %q in:\n%s", want, out)
		}
	}
	if n := strings.Count(string(out), "# warning:"); n != 2 {
		t.Errorf("%d warnings, want 2 (app and bob@example.com can send):\n%s", n, out)
	}
}

// A message that already carries more than 50 Received fields is looping:
// the built binary refuses it with 554 5.4.6 (Postfix's hopcount_limit);
// with 50 it is delivered, with the relay's own as the 51st.
func TestHostile_MailLoopRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mx := e.mx("dest.example", 10, smtptest.Options{})
	r := e.newRelay(nil).start()
	hops := func(n int) string {
		return strings.Repeat("Received: from a.example by b.example;\r\n\tWed, 25 Nov 2026 13:04:05 +0100\r\n", n)
	}
	_, err := r.send("app@sender.example", []string{"someone@dest.example"}, hops(51)+message("loop"))
	wantSMTPError(t, "51 Received fields", err, 554, smtp.EnhancedCode{5, 4, 6})
	if _, err := r.send("app@sender.example", []string{"someone@dest.example"}, hops(50)+message("fifty")); err != nil {
		t.Fatalf("50 Received fields: %v", err)
	}
	got := mx.WaitMessages(t, 1, 15*time.Second)[0].Data
	if n := strings.Count("\r\n"+string(got), "\r\nReceived: "); n != 51 {
		t.Errorf("delivered with %d Received fields, want 51", n)
	}
	if !strings.Contains(string(got), "marker fifty") {
		t.Errorf("delivered the wrong message:\n%s", got)
	}
	if v := r.metric(t, `mxout_messages_rejected_total{reason="too_many_hops"}`); v != 1 {
		t.Errorf("too_many_hops rejections %v, want 1", v)
	}
}

// rawLine connects to addr from the loopback address from and returns the
// connection and its first line (the greeting, or a refusal).
func rawLine(t *testing.T, addr, from string) (net.Conn, *bufio.Reader, string) {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("connection from %s: %v", from, err)
	}
	return c, r, strings.TrimRight(line, "\r\n")
}

// Strangers holding idle connections no longer lock everyone out: one
// address gets 10 connections (max_connections_per_ip), strangers
// together 80% of max_connections, the rest stays for the trusted
// client; and a stranger that does not authenticate within
// pre_auth_timeout gets 421 4.4.2.
func TestHostile_IdleStrangersCannotTakeEverySlot(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mx := e.mx("dest.example", 10, smtptest.Options{})
	r := e.newRelay(map[string]any{"submission": map[string]any{
		"trusted_networks": []any{"127.0.0.1/32"},
		"max_connections":  20, // strangers: 16
		"pre_auth_timeout": "2s",
	}}).start()
	addr := fmt.Sprintf("127.0.0.1:%d", r.port)
	const full = "421 4.7.0 relay.e2e.invalid Too many connections, try again later"

	var held []*bufio.Reader
	hold := func(n int, from string) {
		for i := range n {
			_, br, line := rawLine(t, addr, from)
			if !strings.HasPrefix(line, "220 ") {
				t.Fatalf("connection %d from %s: %q", i, from, line)
			}
			held = append(held, br)
		}
	}
	hold(10, "127.0.0.2")
	if _, _, line := rawLine(t, addr, "127.0.0.2"); line != full {
		t.Errorf("11th connection from one address: %q, want %q", line, full)
	}
	hold(6, "127.0.0.3")
	if _, _, line := rawLine(t, addr, "127.0.0.4"); line != full {
		t.Errorf("17th stranger: %q, want %q", line, full)
	}
	// The trusted client still gets in and relays.
	if _, err := r.send("app@sender.example", []string{"someone@dest.example"}, message("trusted")); err != nil {
		t.Fatalf("trusted client: %v", err)
	}
	mx.WaitMessages(t, 1, 15*time.Second)

	// Without AUTH, every stranger is sent away after pre_auth_timeout.
	for i, br := range held {
		line, err := br.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "421 4.4.2 ") {
			t.Fatalf("stranger %d: %q, %v; want 421 4.4.2", i, line, err)
		}
	}
	testwait.For(t, 10*time.Second, "the strangers' slots to be free", func() bool {
		return r.metric(t, `mxout_smtp_sessions_active{side="submission"}`) == 0
	})
	if _, _, line := rawLine(t, addr, "127.0.0.4"); !strings.HasPrefix(line, "220 ") {
		t.Errorf("a stranger after the others left: %q", line)
	}
	if v := r.metric(t, `mxout_messages_rejected_total{reason="pre_auth_timeout"}`); v != 16 {
		t.Errorf("pre_auth_timeout %v, want 16", v)
	}
}

// startTLSFrom opens a STARTTLS session to addr from the loopback address
// from and greets.
func startTLSFrom(t *testing.T, addr, from string) *smtp.Client {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := smtp.NewClientStartTLS(conn, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Hello("client.e2e.invalid"); err != nil {
		t.Fatal(err)
	}
	return c
}

// Ten wrong passwords for app from five addresses (two each, under every
// per-address limit) used to lock app out everywhere for 15 minutes. Now
// app's right password from an address without failures is accepted,
// and its mail goes out.
func TestHostile_StrangersCannotLockAUserOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mx := e.mx("dest.example", 10, smtptest.Options{})
	dir := certAndUsers(t, "localhost", map[string]string{"app": "right"})
	r := submissionRelay(t, e, dir, nil) // auth_throttle defaults but delay 0s
	addr := fmt.Sprintf("127.0.0.1:%d", r.port)
	for _, from := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"} {
		c := startTLSFrom(t, addr, from)
		for range 2 {
			err := c.Auth(sasl.NewPlainClient("", "app", "guess"))
			wantSMTPError(t, "wrong password from "+from, err, 535, smtp.EnhancedCode{5, 7, 8})
		}
		c.Close()
	}
	c := startTLSFrom(t, addr, "127.0.0.7")
	if err := c.Auth(sasl.NewPlainClient("", "app", "right")); err != nil {
		t.Fatalf("app's right password after 10 failures elsewhere: %v", err)
	}
	if err := c.SendMail("app@sender.example", []string{"someone@dest.example"}, strings.NewReader(message("not-locked-out"))); err != nil {
		t.Fatal(err)
	}
	mx.WaitMessages(t, 1, 15*time.Second)
	if v := r.metric(t, "mxout_auth_failures_total"); v != 10 {
		t.Errorf("auth failures %v, want 10", v)
	}
}

// rawDATA runs one transaction on a raw connection to the relay, writes
// data exactly as given after DATA, and returns the reply to it.
func rawDATA(t *testing.T, r *relay, from, to, data string) string {
	t.Helper()
	c, br, line := rawLine(t, fmt.Sprintf("127.0.0.1:%d", r.port), "127.0.0.1")
	if !strings.HasPrefix(line, "220 ") {
		t.Fatalf("greeting %q", line)
	}
	reply := func() string {
		var last string
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("read reply: %v", err)
			}
			if last = strings.TrimRight(l, "\r\n"); len(last) < 4 || last[3] != '-' {
				return last
			}
		}
	}
	for _, cmd := range []string{"EHLO client.e2e.invalid", "MAIL FROM:<" + from + ">", "RCPT TO:<" + to + ">", "DATA"} {
		fmt.Fprintf(c, "%s\r\n", cmd)
		if got := reply(); !strings.HasPrefix(got, "250") && !strings.HasPrefix(got, "354") {
			t.Fatalf("%s: %q", cmd, got)
		}
	}
	if _, err := c.Write([]byte(data)); err != nil {
		t.Fatal(err)
	}
	return reply()
}

// <CRLF>.<CR> not followed by LF: go-smtp's DATA reader drops the dot and
// the CR (docs/upstream.md), so the built binary accepts such a message
// two bytes short instead of refusing it; after <CRLF>.<CR><CRLF> it also
// reads the next dot line as data. This pins that residual and shows it
// smuggles nothing: the next hop gets one message, the would-be commands
// as its text, with the dot line dot-stuffed on the way.
func TestHostile_DotCRCannotSmuggle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mx := e.mx("dest.example", 10, smtptest.Options{})
	r := e.newRelay(nil).start()

	reply := rawDATA(t, r, "app@sender.example", "someone@dest.example",
		"Subject: dot cr\r\n\r\nbefore\r\n.\rX after\r\n.\r\n")
	if strings.HasPrefix(reply, "550 5.6.11") {
		t.Fatalf("%q: go-smtp now passes <CRLF>.<CR> through: update docs/security.md and docs/upstream.md, and expect 550 5.6.11 here", reply)
	}
	if !strings.HasPrefix(reply, "250 ") {
		t.Fatalf("<CRLF>.<CR>X: %q", reply)
	}
	got := mx.WaitMessages(t, 1, 15*time.Second)[0]
	if !strings.HasSuffix(string(got.Data), "\r\n\r\nbefore\r\nX after\r\n") {
		t.Errorf("delivered %q", got.Data)
	}

	smuggle := "Subject: smuggler\r\n\r\nbefore\r\n.\r\r\n.\r\nMAIL FROM:<evil@sender.example>\r\nRCPT TO:<victim@dest.example>\r\n" +
		"DATA\r\nSubject: smuggled\r\n\r\nhi\r\n.\r\n"
	if reply := rawDATA(t, r, "app@sender.example", "someone@dest.example", smuggle); !strings.HasPrefix(reply, "250 ") {
		t.Fatalf("<CRLF>.<CR><CRLF>: %q", reply)
	}
	testwait.For(t, 15*time.Second, "the second message", func() bool { return mx.MessageCount() >= 2 })
	// Give a smuggled third message the time to arrive, if there were one:
	// the queue would hold it, and the MX would count it.
	testwait.For(t, 15*time.Second, "the queue to drain", func() bool {
		return r.metric(t, `mxout_queue_messages{state="ready"}`) == 0 && r.metric(t, `mxout_queue_messages{state="inflight"}`) == 0
	})
	msgs := mx.Messages()
	if len(msgs) != 2 {
		t.Fatalf("the MX got %d messages, want 2 (no smuggled one)", len(msgs))
	}
	second := msgs[1]
	if strings.Join(second.To, ",") != "someone@dest.example" ||
		!strings.HasSuffix(string(second.Data), "\r\nbefore\r\n\r\n.\r\nMAIL FROM:<evil@sender.example>\r\nRCPT TO:<victim@dest.example>\r\nDATA\r\nSubject: smuggled\r\n\r\nhi\r\n") {
		t.Errorf("the MX got %v:\n%q", second.To, second.Data)
	}
}
