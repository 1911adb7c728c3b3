package packaging

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/mxout/mxout/internal/testcert"
	"golang.org/x/crypto/bcrypt"
)

// podmanRunFlags are the `podman run` flags that let a container start
// on this machine: none where podman works as installed; in a nested
// sandbox without cgroup v2 delegation and with fixed rlimits (as this
// project's CI machines are), runc with rlimits podman may set. It skips
// the test where no container can start.
func podmanRunFlags(t *testing.T, image string) []string {
	t.Helper()
	candidates := [][]string{nil}
	if _, err := exec.LookPath("runc"); err == nil {
		candidates = append(candidates, []string{"--runtime", "runc", "--ulimit", "nofile=4096:4096", "--ulimit", "nproc=1024:1024"})
	}
	var last error
	for _, flags := range candidates {
		args := append(append([]string{"run", "--rm", "--network", "none"}, flags...), image, "version")
		out, err := run(".", "podman", args...)
		if err == nil && strings.HasPrefix(out, "mxout ") {
			return flags
		}
		last = err
	}
	t.Skipf("podman cannot start a container here: %v", last)
	return nil
}

// The image built by `make image` runs as a non-root user with the queue
// on a volume, listens on all addresses with STARTTLS, refuses to relay
// without AUTH, and queues a message from a user who authenticated.
func TestImage_RelaysForAuthenticatedUsersOnly(t *testing.T) {
	t.Parallel()
	need(t, "podman", "Debian package podman; make image is not tested")
	r := tagged(t)
	suffix := make([]byte, 4)
	rand.Read(suffix)
	name := "mxout-test-" + hex.EncodeToString(suffix)
	image := "localhost/" + name + ":" + releaseTag
	if out, err := run(r.dir, "make", "--no-print-directory", "image", "IMAGE="+image, "DIST="+filepath.Join(r.dist, "..", "image-dist")); err != nil {
		t.Fatalf("make image: %v\n%s", err, out)
	}
	t.Cleanup(func() { run(".", "podman", "rmi", "--force", image) })

	meta, err := run(".", "podman", "image", "inspect", "--format", "{{.Config.User}} {{json .Config.Volumes}} {{index .Labels \"org.opencontainers.image.version\"}}", image)
	if err != nil || !strings.HasPrefix(meta, `65532:65532 {"/var/lib/mxout":{}} `+releaseTag) {
		t.Errorf("image config: %q, %v; want user 65532, the queue volume and the version label", meta, err)
	}
	flags := podmanRunFlags(t, image)

	// What an operator mounts: a certificate and the users file.
	dir := t.TempDir()
	pair, err := testcert.New("relay.test", "relay.test")
	if err != nil {
		t.Fatal(err)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	users := fmt.Sprintf("- username: app@example.com\n  password_hash: %q\n", hash)
	if err := os.Mkdir(filepath.Join(dir, "tls"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, filepath.Join(dir, "tls")} {
		if err := os.Chmod(d, 0o755); err != nil { // readable by the container's user
			t.Fatal(err)
		}
	}
	for file, body := range map[string][]byte{"tls/cert.pem": pair.CertPEM, "tls/key.pem": pair.KeyPEM, "users.yaml": []byte(users)} {
		if err := os.WriteFile(filepath.Join(dir, file), body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// As docs/quickstart-sysadmins.md runs it, on a loopback port.
	queue := name + "-queue"
	args := append([]string{"run", "--detach", "--name", name, "--publish", "127.0.0.1::2587",
		// DNS of the delivery attempt stays inside the container.
		"--env", "MXOUT_HOSTNAME=relay.test", "--env", "MXOUT_RESOLVER_SERVERS=127.0.0.1:1",
		"--volume", queue + ":/var/lib/mxout",
		"--volume", filepath.Join(dir, "tls") + ":/etc/mxout/tls:ro",
		"--volume", filepath.Join(dir, "users.yaml") + ":/etc/mxout/users.yaml:ro"}, flags...)
	if out, err := run(".", "podman", append(args, image)...); err != nil {
		t.Fatalf("podman run: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := exec.Command("podman", "logs", name).CombinedOutput()
			t.Logf("container logs:\n%s", logs)
		}
		run(".", "podman", "rm", "--force", "--volumes", name)
		run(".", "podman", "volume", "rm", "--force", queue)
	})

	addr := waitForSMTP(t, name)
	if pid, err := run(".", "podman", "inspect", "--format", "{{.State.Pid}}", name); err == nil {
		if status, err := os.ReadFile("/proc/" + strings.TrimSpace(pid) + "/status"); err == nil && !strings.Contains(string(status), "\nUid:\t65532\t") {
			t.Errorf("mxout does not run as uid 65532:\n%s", status)
		}
	}
	tlsConfig := &tls.Config{RootCAs: pair.Pool(), ServerName: "relay.test", MinVersion: tls.VersionTLS12}

	// Without AUTH: no relaying, whatever the client's address.
	c, err := smtp.DialStartTLS(addr, tlsConfig)
	if err != nil {
		t.Fatal(err)
	}
	err = c.SendMail("app@example.com", []string{"you@example.net"}, strings.NewReader("Subject: no auth\r\n\r\nhi\r\n"))
	if se, ok := err.(*smtp.SMTPError); !ok || se.Code != 530 {
		t.Errorf("relaying without AUTH: %v; want 530 5.7.0", err)
	}
	c.Close()

	// With AUTH over STARTTLS: queued.
	c, err = smtp.DialStartTLS(addr, tlsConfig)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", "app@example.com", "s3cret")); err != nil {
		t.Fatalf("AUTH: %v", err)
	}
	if err := c.Mail("app@example.com", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("you@example.net", nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(w, "From: app@example.com\r\nTo: you@example.net\r\nSubject: through the image\r\n\r\nhello\r\n")
	resp, err := w.CloseWithResponse()
	if err != nil || !strings.Contains(resp.StatusText, "queued as") {
		t.Fatalf("DATA: %+v, %v", resp, err)
	}
	id := resp.StatusText[strings.LastIndex(resp.StatusText, " ")+1:]
	if out, err := run(".", "podman", "exec", name, "/usr/bin/mxout", "queue", "show", id); err != nil || !strings.Contains(out, "you@example.net") {
		t.Errorf("mxout queue show %s in the container: %v\n%s", id, err, out)
	}
}

// waitForSMTP waits until the container's published submission port
// greets, and returns its host address.
func waitForSMTP(t *testing.T, name string) string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out, err := run(".", "podman", "port", name, "2587/tcp")
		if err == nil && strings.TrimSpace(out) != "" {
			addr := strings.TrimSpace(strings.Split(out, "\n")[0])
			// A port forwarder may accept before mxout listens: wait
			// for the greeting and the EHLO reply.
			if c, err := smtp.Dial(addr); err == nil {
				err = c.Hello("probe.test")
				c.Close()
				if err == nil {
					return addr
				}
			}
		}
		state, _ := run(".", "podman", "inspect", "--format", "{{.State.Status}}", name)
		if strings.TrimSpace(state) == "exited" || time.Now().After(deadline) {
			logs, _ := exec.Command("podman", "logs", name).CombinedOutput()
			t.Fatalf("the container's SMTP port did not answer (state %s):\n%s", strings.TrimSpace(state), logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
