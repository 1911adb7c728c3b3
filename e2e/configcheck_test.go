package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// serveOutcome starts `mxout serve --config conf` and returns "" once it
// has started (and is stopped again), or the error it exits with.
func serveOutcome(t *testing.T, dir, conf string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), "serve", "--config", conf)
	cmd.Dir = dir
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var last string
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		last = sc.Text()
		if strings.Contains(last, "mxout started") {
			cmd.Process.Signal(syscall.SIGTERM)
			go func() {
				for sc.Scan() {
				}
			}()
			cmd.Wait()
			return ""
		}
	}
	if err := cmd.Wait(); err == nil {
		t.Fatalf("serve exited 0 without starting: %s", last)
	}
	return last
}

// Every config that `mxout serve` refuses at start, `mxout config check`
// refuses too, naming the same key; and what serve runs, check passes.
func TestConfigCheck_RefusesWhatServeRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pairA, pairB := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for _, d := range []string{pairA, pairB} {
		os.MkdirAll(d, 0o700)
		writeCertPair(t, d, "relay.example")
	}
	rsaKey := filepath.Join(dir, "rsa.key")
	if out, err := exec.Command(binary(t), "dkim", "keygen", "--domain", "example.com", "--selector", "s1", "--out", rsaKey).CombinedOutput(); err != nil {
		t.Fatalf("dkim keygen: %v\n%s", err, out)
	}
	aFile := filepath.Join(dir, "a-file")
	writeFile(t, aFile, []byte("not a directory\n"))

	p1, p2 := freePort(t), freePort(t)
	at := func(p int) string { return fmt.Sprintf("127.0.0.1:%d", p) }
	listener := func(addr, tls string) []any { return []any{map[string]any{"address": addr, "tls": tls}} }
	apiKey := []any{map[string]any{"name": "app", "token_sha256": tokenHash(appToken), "allowed_senders": []any{"*@example.com"}}}
	tests := []struct {
		name string
		conf map[string]any
		key  string // "" when serve starts
	}{
		{"a config that starts", map[string]any{}, ""},
		{"two listeners on one address", map[string]any{"submission": map[string]any{
			"listeners": append(listener(at(p1), "none"), listener(at(p1), "none")...)}}, "submission.listeners[1].address"},
		{"every address and one of them", map[string]any{"submission": map[string]any{
			"listeners": append(listener(fmt.Sprintf(":%d", p1), "none"), listener(at(p1), "none")...)}}, "submission.listeners[1].address"},
		{"metrics on the listener's address", map[string]any{"metrics": map[string]any{"listen": at(p1)}}, "metrics.listen"},
		{"admin on the metrics address", map[string]any{"metrics": map[string]any{"listen": at(p2)}, "admin": map[string]any{"listen": at(p2)}}, "admin.listen"},
		{"port out of range", map[string]any{"metrics": map[string]any{"listen": "127.0.0.1:99999"}}, "metrics.listen"},
		{"port not a number", map[string]any{"submission": map[string]any{"listeners": listener("127.0.0.1:abc", "none")}}, "submission.listeners[0].address"},
		{"hostname not a host name", map[string]any{"hostname": "relay<x>.example"}, "hostname"},
		{"certificate missing", map[string]any{"submission": map[string]any{"listeners": listener(at(p1), "starttls"),
			"tls": map[string]any{"cert_file": filepath.Join(dir, "none.pem"), "key_file": filepath.Join(dir, "none.key")}}}, "submission.tls"},
		{"certificate and key of two pairs", map[string]any{"submission": map[string]any{"listeners": listener(at(p1), "implicit"),
			"tls": map[string]any{"cert_file": filepath.Join(pairA, "cert.pem"), "key_file": filepath.Join(pairB, "key.pem")}}}, "submission.tls"},
		{"DKIM key missing", map[string]any{"dkim": map[string]any{"domains": map[string]any{"example.com": map[string]any{
			"selector": "s1", "private_key_file": filepath.Join(dir, "none.key")}}}}, "dkim.domains"},
		{"DKIM key of another algorithm", map[string]any{"dkim": map[string]any{"domains": map[string]any{"example.com": map[string]any{
			"selector": "s1", "private_key_file": rsaKey, "algorithm": "ed25519-sha256"}}}}, "dkim.domains"},
		{"users file missing", map[string]any{"submission": map[string]any{"listeners": listener(at(p1), "none"),
			"users_file": filepath.Join(dir, "none.yaml")}}, "submission.users_file"},
		{"smarthost CA file missing", map[string]any{"delivery": map[string]any{"smarthost": map[string]any{
			"address": "smarthost.example:587", "tls": "starttls", "ca_file": filepath.Join(dir, "none.pem")}}}, "delivery.smarthost.ca_file"},
		{"data_dir under a file", map[string]any{"data_dir": filepath.Join(aFile, "data")}, "data_dir"},
		{"admin socket in a missing directory", map[string]any{"admin": map[string]any{"socket": filepath.Join(dir, "none", "admin.sock")}}, "admin.socket"},
		{"admin socket on a file", map[string]any{"admin": map[string]any{"socket": aFile}}, "admin.socket"},
		{"the API and a webhook", map[string]any{"api": map[string]any{"listen": at(p2), "keys": apiKey},
			"webhooks": map[string]any{"endpoints": []any{map[string]any{
				"url": "https://hooks.example/x", "secret": strings.Repeat("s", 40)}}}}, ""},
		{"API certificate missing", map[string]any{"api": map[string]any{"listen": at(p2), "keys": apiKey,
			"tls": map[string]any{"cert_file": filepath.Join(dir, "none.pem"), "key_file": filepath.Join(dir, "none.key")}}}, "api.tls"},
	}
	for i, tt := range tests {
		conf := map[string]any{
			"hostname":   "relay.example",
			"data_dir":   filepath.Join(dir, fmt.Sprintf("data%d", i)),
			"submission": map[string]any{"listeners": listener(at(p1), "none")},
			"metrics":    map[string]any{"listen": ""},
			"admin":      map[string]any{"listen": "", "socket": ""},
			"resolver":   map[string]any{"servers": []any{"127.0.0.1:1"}},
		}
		merge(conf, tt.conf)
		b, err := yaml.Marshal(conf)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, fmt.Sprintf("c%d.yaml", i))
		writeFile(t, path, b)

		_, checkErr, code := runBinary(t, dir, "", nil, "", "config", "check", "--config", path)
		served := serveOutcome(t, dir, path)
		switch {
		case tt.key == "" && (served != "" || code != 0):
			t.Errorf("%s: serve %q, config check exit %d %q; want both to pass", tt.name, served, code, checkErr)
		case tt.key == "":
		case served == "" || !strings.Contains(served, tt.key):
			t.Errorf("%s: serve %s; want it to refuse naming %s", tt.name, orStarted(served), tt.key)
		case code == 0 || !strings.Contains(checkErr, tt.key):
			t.Errorf("%s: serve refuses (%s), config check exits %d %q; want it to refuse naming %s", tt.name, served, code, checkErr, tt.key)
		}
	}
}

func orStarted(s string) string {
	if s == "" {
		return "started"
	}
	return fmt.Sprintf("refused: %s", s)
}
