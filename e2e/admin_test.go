package e2e

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mxout/mxout/internal/rawhttp"
	"github.com/mxout/mxout/internal/testwait"
)

func TestAdmin_BrowsersAndLocalUsers(t *testing.T) {
	t.Parallel()
	r, _, addr, ids := waitingRelay(t, "admin.example", "admin-0")
	id := ids[0]
	testwait.For(t, 10*time.Second, "the message to be deferred", func() bool {
		out, _, _ := r.cli(nil, "list", "--state", "deferred", "-q")
		return strings.TrimSpace(out) == id
	})
	_, port, _ := net.SplitHostPort(addr)
	hold := "POST /v1/messages/" + id + "/hold HTTP/1.1"
	for _, tt := range []struct {
		name string
		head []string
		body string
		want int
	}{
		{"a page's form", []string{hold, "Host: " + addr, "Origin: http://evil.example", "Content-Type: application/x-www-form-urlencoded", "Content-Length: 0"}, "", 403},
		{"a page's script", []string{"GET /v1/messages HTTP/1.1", "Host: " + addr, "Origin: http://evil.example"}, "", 403},
		{"a DNS-rebound name", []string{"GET /v1/messages HTTP/1.1", "Host: rebound.evil.example:" + port}, "", 421},
		{"a body that is not JSON", []string{hold, "Host: " + addr, "Content-Type: text/plain", "Content-Length: 5"}, "hello", 415},
		{"a local user's change", []string{hold, "Host: " + addr}, "", 403},
		{"a local user's read", []string{"GET /v1/stats HTTP/1.1", "Host: localhost:" + port}, "", 200},
	} {
		if code, body := rawhttp.Do(t, "tcp", addr, tt.head, tt.body); code != tt.want {
			t.Errorf("%s: %d %s, want %d", tt.name, code, strings.TrimSpace(body), tt.want)
		}
	}
	if out, _, _ := r.cli(nil, "list", "--state", "held", "-q"); strings.TrimSpace(out) != "" {
		t.Fatalf("a refused request held the message: %q", out)
	}

	sock := filepath.Join(r.dataDir(), "admin.sock")
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin socket %s: %v %v, want a socket of mode 0600", sock, fi.Mode(), err)
	}
	if code, body := rawhttp.Do(t, "unix", sock, []string{hold, "Host: localhost", "Origin: http://evil.example"}, ""); code != 403 {
		t.Errorf("a page's form on the socket: %d %s", code, body)
	}
	// The relay tries the message again every second; while an attempt
	// holds it, a change is answered 409 (being delivered), as the
	// operator's CLI also meets it (steer): wait for another answer.
	var code int
	var body string
	testwait.For(t, 10*time.Second, "an answer other than 409 to a hold on the socket", func() bool {
		code, body = rawhttp.Do(t, "unix", sock, []string{hold, "Host: localhost"}, "")
		return code != 409
	})
	if code != 200 || !strings.Contains(body, `"held"`) {
		t.Fatalf("a change on the socket: %d %s", code, body)
	}
	// The operator's CLI goes through the socket.
	if out, _, err := r.steer("release", id); err != nil || !strings.Contains(out, "released") {
		t.Errorf("queue release: %v %q", err, out)
	}
	if out, errOut, err := r.cli(nil, "list"); err != nil || !strings.Contains(out, "via the admin API at "+sock) {
		t.Errorf("queue list: %v\n%s%s", err, out, errOut)
	}
	// Without the socket (another user could not open it) the CLI reads
	// over admin.listen, without headers, and cannot change anything.
	noSocket := []string{"MXOUT_ADMIN_SOCKET=" + filepath.Join(t.TempDir(), "none.sock")}
	if out, errOut, err := r.cli(noSocket, "show", id); err != nil || !strings.Contains(out, "Headers: withheld") || strings.Contains(out, "Subject:") {
		t.Errorf("show without the socket: %v\n%s%s", err, out, errOut)
	}
	if _, errOut, err := r.cli(noSocket, "hold", id); err == nil || !strings.Contains(errOut, "admin socket") {
		t.Errorf("hold without the socket: %v %q", err, errOut)
	}

	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("the socket is left after a clean stop: %v", err)
	}
	// Stopped: list still works, read-only.
	if out, _, err := r.cli(nil, "list", "-q"); err != nil || strings.TrimSpace(out) != id {
		t.Errorf("list while stopped: %v %q", err, out)
	}
}

// TestAdmin_UnprivilegedUserCannotChangeTheQueue runs `mxout queue` as the
// user nobody: it lists the queue over admin.listen, as mailq lets any
// local user, but cannot hold a message (the socket is in the relay's
// data directory, which nobody cannot enter).
func TestAdmin_UnprivilegedUserCannotChangeTheQueue(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the CLI as nobody; TestAdmin_BrowsersAndLocalUsers covers the refusal")
	}
	r, _, _, ids := waitingRelay(t, "nobody.example", "nobody-0")
	id := ids[0]

	// A copy of the binary and the config that nobody may read.
	pub, err := os.MkdirTemp("", "mxout-nobody")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(pub) })
	os.Chmod(pub, 0o755)
	bin, cfg := filepath.Join(pub, "mxout"), filepath.Join(pub, "mxout.yaml")
	for _, f := range [][2]string{{binary(t), bin}, {r.configPath, cfg}} {
		b, err := os.ReadFile(f[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f[1], b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	asNobody := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, append(append([]string{"queue"}, args...), "--config", cfg)...)
		cmd.Dir = pub
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	testwait.For(t, 10*time.Second, "nobody to list the message", func() bool {
		out, _ := asNobody("list", "-q")
		return strings.TrimSpace(out) == id
	})
	out, err := asNobody("hold", id)
	if err == nil || !strings.Contains(out, "admin socket") {
		t.Errorf("hold as nobody: %v\n%s", err, out)
	}
	if o, _, _ := r.cli(nil, "list", "--state", "held", "-q"); strings.TrimSpace(o) != "" {
		t.Errorf("nobody held a message: %q", o)
	}
}
