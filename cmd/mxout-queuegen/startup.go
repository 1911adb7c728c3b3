package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mxout/mxout/admin"
	"github.com/mxout/mxout/queue"
)

// startup runs `mxout serve` on dir and reports how long it takes to
// listen and to be ready, its RSS then and after settle, how long a few
// admin API calls take on that queue, and how long SIGTERM takes.
// Delivery is kept from changing the queue meanwhile: one worker, and a
// DNS server that never answers.
func startup(dir, bin string, settle time.Duration) error {
	if settle <= 0 {
		settle = 5 * time.Second
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	blackhole, err := net.ListenPacket("udp", "127.0.0.1:0") // read by no one: queries time out
	if err != nil {
		return err
	}
	defer blackhole.Close()
	addrs, err := freeAddrs(3)
	if err != nil {
		return err
	}
	smtpAddr, metricsAddr, adminAddr := addrs[0], addrs[1], addrs[2]
	cfgDir, err := os.MkdirTemp("", "queuegen")
	if err != nil {
		return err
	}
	defer os.RemoveAll(cfgDir)
	cfg := filepath.Join(cfgDir, "mxout.yaml")
	yaml := fmt.Sprintf(`data_dir: %q
submission: {listeners: [{address: %q, tls: none}]}
delivery: {workers: 1, shutdown_timeout: 1s, allowed_networks: [127.0.0.0/8]}
resolver: {servers: [%q], timeout: 60s}
metrics: {listen: %q}
admin: {listen: %q}
log: {level: warn}
`, abs, smtpAddr, blackhole.LocalAddr().String(), metricsAddr, adminAddr)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		return err
	}

	cmd := exec.Command(bin, "serve", "--config", cfg)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	if err := waitFor(60*time.Second, func() bool { return dial(smtpAddr) }); err != nil {
		return fmt.Errorf("mxout did not listen: %w\n%s", err, logs.String())
	}
	listening := time.Since(start)
	if err := waitFor(10*time.Second, func() bool { return httpOK("http://" + metricsAddr + "/readyz") }); err != nil {
		return fmt.Errorf("mxout not ready: %w\n%s", err, logs.String())
	}
	ready := time.Since(start)
	rss0, hwm0 := memory(cmd.Process.Pid)
	fmt.Printf("start-up: listening after %s, ready after %s; RSS %s (peak %s)\n",
		listening.Round(time.Millisecond), ready.Round(time.Millisecond), mib(rss0), mib(hwm0))

	// The socket, as the operator's mxout queue would: over admin.listen
	// without a token, show leaves the headers out.
	client := admin.NewSocketClient(filepath.Join(abs, "admin.sock"), "")
	ctx := context.Background()
	timed := func(what string, fn func() (string, error)) {
		t := time.Now()
		out, err := fn()
		if err != nil {
			out = "error: " + err.Error()
		}
		fmt.Printf("  admin %-34s %8s  %s\n", what, time.Since(t).Round(time.Microsecond), out)
	}
	timed("stats", func() (string, error) {
		s, err := client.Stats(ctx)
		return fmt.Sprintf("%d messages, %s of bodies", s.Total, mib(s.Bytes)), err
	})
	var first queue.ID
	timed("list (first page of 100)", func() (string, error) {
		p, err := client.List(ctx, queue.ListOptions{Limit: 100})
		if len(p.Messages) > 0 {
			first = p.Messages[0].ID
		}
		return fmt.Sprintf("%d messages, next %q", len(p.Messages), p.Next), err
	})
	timed("list --domain (no match, 1 page)", func() (string, error) {
		p, err := client.List(ctx, queue.ListOptions{Domain: "nowhere.invalid"})
		return fmt.Sprintf("%d messages after a bounded scan, next %q", len(p.Messages), p.Next), err
	})
	if first != "" {
		timed("show (with headers)", func() (string, error) {
			m, err := client.Show(ctx, first, true)
			return fmt.Sprintf("%s, %d header bytes", m.ID, len(m.Headers)), err
		})
	}
	time.Sleep(time.Until(start.Add(ready + settle)))
	rss1, hwm1 := memory(cmd.Process.Pid)
	fmt.Printf("after %s: RSS %s (peak %s)\n", settle, mib(rss1), mib(hwm1))

	stopStart := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("mxout exited with %v\n%s", err, logs.String())
	}
	fmt.Printf("SIGTERM to exit: %s\n", time.Since(stopStart).Round(time.Millisecond))
	return nil
}

// freeAddrs finds n free loopback ports.
func freeAddrs(n int) ([]string, error) {
	var out []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		out = append(out, l.Addr().String())
	}
	return out, nil
}

func dial(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func httpOK(url string) bool {
	resp, err := http.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func waitFor(timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s", timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// memory reads VmRSS and VmHWM (peak RSS) of a process, in bytes.
func memory(pid int) (rss, hwm int64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var kb int64
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "VmRSS:"):
			fmt.Sscanf(strings.TrimPrefix(line, "VmRSS:"), "%d", &kb)
			rss = kb << 10
		case strings.HasPrefix(line, "VmHWM:"):
			fmt.Sscanf(strings.TrimPrefix(line, "VmHWM:"), "%d", &kb)
			hwm = kb << 10
		}
	}
	return rss, hwm
}
