package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mxout/mxout/admin"
	"go.yaml.in/yaml/v3"
)

// relay is a mail relay under test, started fresh (empty queue, new
// processes) for every run.
type relay interface {
	Name() string
	// Start runs the relay with its queue under dir, delivering to dst.
	Start(dst destinations, dir string) error
	// Addr is the SMTP address the clients submit to.
	Addr() string
	// Usage reads the relay's CPU time and memory now.
	Usage() (usage, error)
	// Deferred counts the messages waiting for a retry.
	Deferred() (int, error)
	// Flush makes every deferred message due now, as an operator does
	// when a destination is back.
	Flush() error
	// Stop ends the relay and waits for it.
	Stop() error
}

// mxoutRelay runs the real mxout binary on its embedded defaults, except
// for what the benchmark must set: addresses and ports, the data
// directory and the DNS server.
type mxoutRelay struct {
	bin     string
	profile bool              // serve /debug/pprof on the metrics listener
	set     map[string]string // config overrides: dotted key → YAML value
	dir     string
	port    int
	metrics int
	admin   int
	api     int
	cmd     *exec.Cmd
	exited  chan struct{}
	logFile *os.File
}

func (m *mxoutRelay) Name() string { return "mxout" }

func (m *mxoutRelay) Addr() string { return fmt.Sprintf("127.0.0.1:%d", m.port) }

// APIAddr is where the HTTP send API listens (api.go).
func (m *mxoutRelay) APIAddr() string { return fmt.Sprintf("127.0.0.1:%d", m.api) }

// MetricsURL is where the metrics (and, with profile, pprof) are served.
func (m *mxoutRelay) MetricsURL() string { return fmt.Sprintf("http://127.0.0.1:%d", m.metrics) }

func (m *mxoutRelay) Start(dst destinations, dir string) error {
	m.dir = dir
	var err error
	for _, p := range []*int{&m.port, &m.metrics, &m.admin, &m.api} {
		if *p, err = freePort(); err != nil {
			return err
		}
	}
	metrics := map[string]any{"listen": fmt.Sprintf("127.0.0.1:%d", m.metrics)}
	if m.profile {
		metrics["pprof"] = true
	}
	cfg := map[string]any{
		"hostname": "mxout.bench.invalid",
		"data_dir": filepath.Join(dir, "data"),
		"submission": map[string]any{
			"listeners": []any{map[string]any{"address": m.Addr(), "tls": "none"}},
		},
		// The sinks live on loopback, which delivery refuses otherwise.
		"delivery": map[string]any{"port": dst.Port, "allowed_networks": []any{"127.0.0.0/8"}},
		"resolver": map[string]any{"servers": []any{dst.DNS}, "timeout": "2s"},
		"metrics":  metrics,
		"admin":    map[string]any{"listen": fmt.Sprintf("127.0.0.1:%d", m.admin)},
		// The send API, for the api generators; idle otherwise.
		"api": map[string]any{"listen": m.APIAddr(), "keys": []any{benchKey()}},
	}
	for key, val := range m.set {
		if err := setKey(cfg, key, val); err != nil {
			return err
		}
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return err
	}
	path := filepath.Join(dir, "mxout.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return err
	}
	// The log goes to the same disk, as a real deployment's would.
	if m.logFile, err = os.Create(filepath.Join(dir, "mxout.log")); err != nil {
		return err
	}
	m.cmd = exec.Command(m.bin, "serve", "--config", path)
	m.cmd.Dir = dir
	m.cmd.Stdout, m.cmd.Stderr = m.logFile, m.logFile
	// Should the benchmark die without stopping it, the relay dies too.
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := m.cmd.Start(); err != nil {
		m.logFile.Close()
		return fmt.Errorf("start %s: %w", m.bin, err)
	}
	m.exited = make(chan struct{})
	go func() {
		_ = m.cmd.Wait()
		close(m.exited)
	}()
	return waitListening(m.Addr(), m.exited, filepath.Join(dir, "mxout.log"))
}

func (m *mxoutRelay) Usage() (usage, error) { return processUsage(m.cmd.Process.Pid) }

func (m *mxoutRelay) Deferred() (int, error) {
	resp, err := http.Get(m.MetricsURL() + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), `mxout_queue_messages{state="deferred"} `); ok {
			f, err := strconv.ParseFloat(v, 64)
			return int(f), err
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no mxout_queue_messages{state=\"deferred\"} in /metrics")
}

// Flush asks the admin API to make every deferred message due now and to
// revive dead destinations, as postqueue -f does.
// It uses the admin socket: over admin.listen without a token the API
// only reads.
func (m *mxoutRelay) Flush() error {
	c := admin.NewSocketClient(filepath.Join(m.dir, "data", "admin.sock"), "")
	if _, err := c.Flush(context.Background()); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	return nil
}

// Stop sends SIGTERM and waits for the graceful shutdown.
func (m *mxoutRelay) Stop() error {
	defer m.logFile.Close()
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.exited:
		return nil
	case <-time.After(45 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.exited
		return fmt.Errorf("mxout did not stop within 45s after SIGTERM")
	}
}

// setKey sets the dotted key in cfg to val, parsed as YAML.
func setKey(cfg map[string]any, key, val string) error {
	var v any
	if err := yaml.Unmarshal([]byte(val), &v); err != nil {
		return fmt.Errorf("--set %s: %w", key, err)
	}
	parts := strings.Split(key, ".")
	for _, p := range parts[:len(parts)-1] {
		next, ok := cfg[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			cfg[p] = next
		}
		cfg = next
	}
	cfg[parts[len(parts)-1]] = v
	return nil
}

// waitListening waits until addr accepts connections, the process exits
// (its log tells why) or a minute passes.
func waitListening(addr string, exited <-chan struct{}, logPath string) error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			b, _ := os.ReadFile(logPath)
			return fmt.Errorf("the relay exited at start; %s:\n%s", logPath, tail(b, 2000))
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("the relay did not listen on %s within a minute", addr)
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// freePort returns a TCP port free on 127.0.0.1 right now.
func freePort() (int, error) { return freePortOn("127.0.0.1") }

// freePortOn returns a TCP port free on host right now.
func freePortOn(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startProfile fetches a CPU profile of the next seconds in the
// background; the returned stop waits for it, then fetches the allocation
// and heap profiles. The files are DIR/<name>-{cpu,allocs,heap}.pprof, for
// `go tool pprof bin/mxout FILE`.
func (m *mxoutRelay) startProfile(dir, name string, seconds int) func() error {
	cpu := make(chan error, 1)
	go func() {
		cpu <- fetch(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", m.MetricsURL(), seconds), filepath.Join(dir, name+"-cpu.pprof"))
	}()
	return func() error {
		err := <-cpu
		for _, p := range []string{"allocs", "heap"} {
			if e := fetch(m.MetricsURL()+"/debug/pprof/"+p, filepath.Join(dir, name+"-"+p+".pprof")); err == nil {
				err = e
			}
		}
		return err
	}
}

func fetch(url, path string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s (is metrics.pprof supported?)", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
