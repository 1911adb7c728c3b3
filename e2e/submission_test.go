package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"golang.org/x/crypto/bcrypt"

	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/internal/testcert"
	"github.com/mxout/mxout/internal/testwait"
)

// writeCertPair writes a self-signed certificate for localhost and
// 127.0.0.1 named cn to dir/cert.pem and dir/key.pem, each by rename as
// certificate tools do.
func writeCertPair(t *testing.T, dir, cn string) {
	t.Helper()
	testcert.WriteNew(t, dir, cn, "localhost", "127.0.0.1")
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path+".tmp", data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

// writeUsers writes a users_file with the given username: password pairs.
func writeUsers(t *testing.T, path string, users map[string]string) {
	t.Helper()
	var b strings.Builder
	for name, pw := range users {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "- username: %s\n  password_hash: %q\n  allowed_senders: [\"*@sender.example\"]\n", name, h)
	}
	writeFile(t, path, []byte(b.String()))
}

// submissionRelay starts a relay whose only listener is STARTTLS with
// AUTH from the users file, and no trusted network.
func submissionRelay(t *testing.T, e *env, dir string, extra map[string]any) *relay {
	t.Helper()
	return startAuthRelay(t, e.newRelay(nil), dir, extra)
}

// certAndUsers writes a certificate named cn and a users file with users
// (name: password) into a new directory, for submissionRelay.
func certAndUsers(t *testing.T, cn string, users map[string]string) (dir string) {
	t.Helper()
	dir = t.TempDir()
	writeCertPair(t, dir, cn)
	writeUsers(t, filepath.Join(dir, "users.yaml"), users)
	return dir
}

// startAuthRelay is submissionRelay for a relay already configured
// otherwise: its submission section gets the STARTTLS listener, the
// certificate and users file in dir, and extra; then it starts.
func startAuthRelay(t *testing.T, r *relay, dir string, extra map[string]any) *relay {
	t.Helper()
	sub := map[string]any{
		"listeners":        []any{map[string]any{"address": fmt.Sprintf("127.0.0.1:%d", r.port), "tls": "starttls"}},
		"trusted_networks": []any{},
		"tls":              map[string]any{"cert_file": filepath.Join(dir, "cert.pem"), "key_file": filepath.Join(dir, "key.pem"), "watch_interval": "0s"},
		"users_file":       filepath.Join(dir, "users.yaml"),
		"auth_throttle":    map[string]any{"delay": "0s"},
	}
	merge(sub, extra)
	merge(r.config, map[string]any{"submission": sub})
	r.writeConfig()
	return r.start()
}

// openSession connects with STARTTLS, returns the client and the common
// name of the certificate the relay served.
func openSession(t *testing.T, r *relay) (*smtp.Client, string) {
	t.Helper()
	c := startTLSFrom(t, fmt.Sprintf("127.0.0.1:%d", r.port), "127.0.0.1")
	st, ok := c.TLSConnectionState()
	if !ok {
		t.Fatal("no TLS after STARTTLS")
	}
	return c, st.PeerCertificates[0].Subject.CommonName
}

func sendOn(c *smtp.Client, to, marker string) error {
	return c.SendMail("app@sender.example", []string{to}, strings.NewReader(message(marker)))
}

// waitLog waits until the relay has logged a line containing every part.
func waitLog(t *testing.T, r *relay, parts ...string) {
	t.Helper()
	testwait.For(t, 10*time.Second, fmt.Sprintf("a log line with %q", parts), func() bool {
		for _, line := range strings.Split(r.logs(), "\n") {
			all := true
			for _, p := range parts {
				all = all && strings.Contains(line, p)
			}
			if all {
				return true
			}
		}
		return false
	})
}

// SIGHUP swaps the certificate and the users file for new sessions while
// a session opened before goes on; a broken file is refused and the relay
// keeps serving what it had.
func TestSubmission_SIGHUPReloadsCertificateAndUsersWithSessionOpen(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mx := e.mx("dest.example", 10, smtptest.Options{})
	dir := certAndUsers(t, "first", map[string]string{"app": "one"})
	r := submissionRelay(t, e, dir, nil)

	old, cn := openSession(t, r)
	if cn != "first" {
		t.Fatalf("served %q", cn)
	}
	if err := old.Auth(sasl.NewPlainClient("", "app", "one")); err != nil {
		t.Fatal(err)
	}

	// reload sends SIGHUP and waits for the certificate's and the users'
	// reload to log msg; a new session must then be served the second
	// certificate and take app2's login.
	reload := func(msg, after string) *smtp.Client {
		t.Helper()
		if err := r.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		waitLog(t, r, msg, `"part":"submission.tls"`)
		waitLog(t, r, msg, `"part":"submission.users"`)
		c, cn := openSession(t, r)
		if cn != "second" {
			t.Errorf("after %s, a new session got %q", after, cn)
		}
		if err := c.Auth(sasl.NewPlainClient("", "app2", "two")); err != nil {
			t.Errorf("after %s, app2 (added by the reload): %v", after, err)
		}
		return c
	}

	writeCertPair(t, dir, "second")
	writeUsers(t, filepath.Join(dir, "users.yaml"), map[string]string{"app": "one", "app2": "two"})
	fresh := reload(`"msg":"reloaded on SIGHUP"`, "SIGHUP")
	// The session from before the reload still works, on its old
	// certificate and login.
	if err := sendOn(old, "a@dest.example", "before-reload"); err != nil {
		t.Fatalf("old session after reload: %v", err)
	}
	mx.WaitMessages(t, 1, 15*time.Second)

	// Broken files: the reload fails, the relay keeps the last good state.
	writeFile(t, filepath.Join(dir, "key.pem"), []byte("not a key"))
	writeFile(t, filepath.Join(dir, "users.yaml"), []byte("- {username: x, password_hash: plain}\n"))
	c := reload(`"msg":"reload on SIGHUP failed; the settings in use stay"`, "a failed reload")
	// Still running: SIGHUP never stops the relay. (Shutdown waits for
	// open sessions, so they end first.)
	for _, s := range []*smtp.Client{old, fresh, c} {
		s.Quit()
	}
	if err := r.stop(); err != nil {
		t.Errorf("relay exit: %v\n%s", err, r.logs())
	}
}

// With watch_interval, a certificate replaced on disk is picked up
// without a signal.
func TestSubmission_CertificateReloadedOnFileChange(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := certAndUsers(t, "first", map[string]string{"app": "one"})
	r := submissionRelay(t, e, dir, map[string]any{"tls": map[string]any{"watch_interval": "1s"}})
	if _, cn := openSession(t, r); cn != "first" {
		t.Fatalf("served %q", cn)
	}
	writeCertPair(t, dir, "second")
	waitLog(t, r, `"msg":"reloaded after the files changed"`, `"part":"submission.tls"`)
	if _, cn := openSession(t, r); cn != "second" {
		t.Errorf("served %q after the files changed", cn)
	}
}

// swaks, a real client, against the built binary: STARTTLS then AUTH
// works; AUTH without TLS is not possible.
func TestSubmission_Swaks(t *testing.T) {
	t.Parallel()
	swaks, err := exec.LookPath("swaks")
	if err != nil {
		t.Skip("swaks not installed (apt-get install swaks); .ci/run installs it")
	}
	e := newEnv(t)
	mx := e.mx("dest.example", 10, smtptest.Options{})
	dir := certAndUsers(t, "localhost", map[string]string{"app": "s3cret"})
	r := submissionRelay(t, e, dir, nil)
	server := fmt.Sprintf("127.0.0.1:%d", r.port)
	run := func(args ...string) (string, error) {
		out, err := exec.Command(swaks, append([]string{"--server", server, "--from", "app@sender.example",
			"--to", "x@dest.example", "--timeout", "10"}, args...)...).CombinedOutput()
		return string(out), err
	}

	out, err := run("--tls", "--auth", "PLAIN", "--auth-user", "app", "--auth-password", "s3cret")
	if err != nil {
		t.Fatalf("swaks STARTTLS+AUTH: %v\n%s", err, out)
	}
	if !strings.Contains(out, "250 2.0.0 Ok: queued as ") {
		t.Errorf("no queue ID in swaks output:\n%s", out)
	}
	mx.WaitMessages(t, 1, 15*time.Second)

	out, err = run("--tls", "--auth", "LOGIN", "--auth-user", "app", "--auth-password", "wrong")
	if err == nil || !strings.Contains(out, "535 5.7.8") {
		t.Errorf("wrong password: %v\n%s", err, out)
	}
	out, err = run("--auth", "PLAIN", "--auth-user", "app", "--auth-password", "s3cret")
	if err == nil || strings.Contains(out, "235 ") {
		t.Errorf("AUTH without TLS: %v\n%s", err, out)
	}
	out, err = run()
	if err == nil || !strings.Contains(out, "530 5.7.0 Authentication required") {
		t.Errorf("no AUTH: %v\n%s", err, out)
	}
}
