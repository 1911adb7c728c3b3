// Package e2e runs the real mxout binary as a user would: built with go
// build, started with a YAML config, fed with SMTP over loopback, and
// delivering to in-process MX servers found through an in-process DNS
// server.
package e2e

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/internal/testnet"
	"github.com/mxout/mxout/internal/testwait"
	"github.com/mxout/mxout/resolver/dnstest"
	"go.yaml.in/yaml/v3"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	// systemConfigPath is where the built binary looks for its config
	// when neither --config nor $MXOUT_CONFIG names one.
	systemConfigPath string
)

// binary builds cmd/mxout once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mxout-e2e-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "mxout")
		// The system-wide config file of this binary is in its own
		// directory, absent unless a test writes it: no test reads the
		// machine's /etc/mxout/mxout.yaml.
		systemConfigPath = filepath.Join(dir, "etc", "mxout.yaml")
		out, err := exec.Command("go", "build", "-ldflags", "-X main.systemConfig="+systemConfigPath,
			"-o", binPath, "../cmd/mxout").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// env is one test's world: DNS, a loopback /24 for MX servers, a relay.
type env struct {
	t       *testing.T
	net     *testnet.Net
	dns     *dnstest.Server
	records map[string][]dnstest.Record
}

func newEnv(t *testing.T) *env {
	return &env{t: t, net: testnet.New(t), dns: dnstest.NewServer(t, nil), records: map[string][]dnstest.Record{}}
}

// mx starts a destination server for domain and publishes its MX record.
func (e *env) mx(domain string, pref int, opts smtptest.Options) *smtptest.Server {
	e.t.Helper()
	ip := e.net.NextIP()
	opts.Addr = e.net.Addr(ip)
	s := smtptest.NewServer(e.t, opts)
	host := "mx-" + strings.ReplaceAll(ip, ".", "-") + "." + domain
	e.records[domain] = append(e.records[domain], dnstest.Record{Type: "MX", Value: fmt.Sprintf("%d %s.", pref, host)})
	e.dns.Set(domain, e.records[domain]...)
	e.dns.Set(host, dnstest.Record{Type: "A", Value: ip})
	return s
}

// mxWithout starts an MX for domain as mx does (preference 10), which
// refuses each of rcpts with 550 5.1.1, as a server does a mailbox it
// does not have.
func (e *env) mxWithout(domain string, rcpts ...string) *smtptest.Server {
	e.t.Helper()
	s := e.mx(domain, 10, smtptest.Options{})
	for _, rcpt := range rcpts {
		s.SetRcpt(rcpt, &smtptest.Reply{Code: 550, Enhanced: [3]int{5, 1, 1}, Message: "no such user"})
	}
	return s
}

// relay is a running mxout process with its config and data directory.
type relay struct {
	t           *testing.T
	dir         string
	config      map[string]any
	configPath  string
	port        int
	metricsPort int
	cmd         *exec.Cmd
	env         []string // extra environment of serve, such as SSL_CERT_FILE
	log         *bytes.Buffer
	logMu       *sync.Mutex
}

// newRelay writes a config that delivers through e's DNS to e's port.
func (e *env) newRelay(overrides map[string]any) *relay {
	e.t.Helper()
	dir := e.t.TempDir()
	r := &relay{t: e.t, dir: dir, port: freePort(e.t), metricsPort: freePort(e.t), logMu: &sync.Mutex{}}
	r.config = map[string]any{
		"hostname": "relay.e2e.invalid",
		"data_dir": filepath.Join(dir, "data"),
		"submission": map[string]any{
			"listeners":        []any{map[string]any{"address": fmt.Sprintf("127.0.0.1:%d", r.port), "tls": "none"}},
			"trusted_networks": []any{"127.0.0.0/8"},
		},
		"delivery": map[string]any{
			"workers": 8,
			"port":    e.net.Port,
			// The MX servers live on loopback, which delivery refuses otherwise.
			"allowed_networks": []any{"127.0.0.0/8"},
			"retry":            map[string]any{"initial": "200ms", "multiplier": 2, "max_interval": "1s", "jitter": 0, "max_lifetime": "1h"},
		},
		"queue":    map[string]any{"lease_duration": "1s"},
		"resolver": map[string]any{"servers": []any{e.dns.Addr}, "timeout": "2s"},
		"metrics":  map[string]any{"listen": fmt.Sprintf("127.0.0.1:%d", r.metricsPort)},
		"admin":    map[string]any{"listen": ""},
		"log":      map[string]any{"level": "debug", "format": "json"},
	}
	merge(r.config, overrides)
	r.configPath = filepath.Join(dir, "mxout.yaml")
	r.writeConfig()
	return r
}

func (r *relay) writeConfig() {
	b, err := yaml.Marshal(r.config)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(r.configPath, b, 0o600); err != nil {
		r.t.Fatal(err)
	}
}

// start runs `mxout serve --config` and waits until it accepts SMTP.
func (r *relay) start() *relay {
	r.t.Helper()
	r.cmd = exec.Command(binary(r.t), "serve", "--config", r.configPath)
	r.cmd.Dir = r.dir
	r.cmd.Env = append(os.Environ(), r.env...)
	r.log = &bytes.Buffer{}
	r.cmd.Stdout = lockedWriter{r.log, r.logMu}
	r.cmd.Stderr = lockedWriter{r.log, r.logMu}
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	cmd := r.cmd
	r.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	// The line comes once every socket is bound: submission, metrics and
	// admin. A submission port that answers says nothing of the others,
	// bound after it (a metrics request right after it was refused on a
	// loaded machine).
	if !testwait.Until(20*time.Second, func() bool { return strings.Contains(r.logs(), "mxout started") }) {
		r.t.Fatalf("relay did not start; log:\n%s", r.logs())
	}
	return r
}

// kill ends the process with SIGKILL, as a crash would.
func (r *relay) kill() {
	r.cmd.Process.Kill()
	r.cmd.Wait()
}

// stop sends SIGTERM and waits for a clean exit.
func (r *relay) stop() error {
	r.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- r.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		r.kill()
		return fmt.Errorf("relay did not stop within 30s")
	}
}

func (r *relay) logs() string {
	r.logMu.Lock()
	defer r.logMu.Unlock()
	return r.log.String()
}

// send submits one message and returns the text of the reply to DATA.
func (r *relay) send(from string, to []string, body string) (string, error) {
	c, err := smtp.Dial(fmt.Sprintf("127.0.0.1:%d", r.port))
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := c.Hello("client.e2e.invalid"); err != nil {
		return "", err
	}
	if err := c.Mail(from, nil); err != nil {
		return "", err
	}
	for _, a := range to {
		if err := c.Rcpt(a, nil); err != nil {
			return "", err
		}
	}
	w, err := c.Data()
	if err != nil {
		return "", err
	}
	if _, err := w.Write([]byte(body)); err != nil {
		return "", err
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return "", err
	}
	c.Quit()
	return resp.StatusText, nil
}

var (
	portsMu sync.Mutex
	ports   = map[int]bool{} // handed out by freePort in this test binary
)

// freePort returns a port free on 127.0.0.1 below the kernel's ephemeral
// range. A relay restarted on its port (after SIGKILL) must find it free
// again, and a port from the ephemeral range may meanwhile be taken as
// the local end of some test's outgoing connection; ports below it are
// never handed out by the kernel.
func freePort(t *testing.T) int {
	t.Helper()
	lo := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		fmt.Sscan(string(b), &lo)
	}
	if lo > 20000 {
		for try := 0; try < 200; try++ {
			p := 10000 + rand.IntN(lo-10000)
			portsMu.Lock()
			taken := ports[p]
			ports[p] = true
			portsMu.Unlock()
			if taken {
				continue
			}
			if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p)); err == nil {
				l.Close()
				return p
			}
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func merge(dst, src map[string]any) {
	for k, v := range src {
		if sv, ok := v.(map[string]any); ok {
			if dv, ok := dst[k].(map[string]any); ok {
				merge(dv, sv)
				continue
			}
		}
		dst[k] = v
	}
}

type lockedWriter struct {
	b  *bytes.Buffer
	mu *sync.Mutex
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func dnstestA(ip string) []dnstest.Record { return []dnstest.Record{{Type: "A", Value: ip}} }

// clients runs n clients at once, client c calling send(c, 0), send(c,
// 1), ... until the returned stop is called; stop waits for them.
func clients(n int, send func(c, i int)) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for c := 0; c < n; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				send(c, i)
			}
		}()
	}
	return func() {
		close(done)
		wg.Wait()
	}
}
