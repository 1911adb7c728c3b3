package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/internal/testwait"
)

var queuedAs = regexp.MustCompile(`^2\.0\.0 Ok: queued as ([0-9a-v]{20})$`)

func message(marker string) string {
	return "From: app@sender.example\r\nTo: someone@example\r\nSubject: e2e " + marker +
		"\r\nDate: Wed, 25 Nov 2026 12:00:00 +0000\r\nMessage-ID: <" + marker + "@sender.example>\r\n\r\n" +
		"Hello.\r\nmarker " + marker + "\r\n.leading dot survives\r\n"
}

func TestServe_DeliversToSeveralDomainsByteForByte(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ok1 := e.mx("ok1.example", 10, smtptest.Options{})
	ok2 := e.mx("ok2.example", 10, smtptest.Options{TLS: true})
	implicitIP := e.net.NextIP()
	implicit := smtptest.NewServer(t, smtptest.Options{Addr: e.net.Addr(implicitIP)})
	e.dns.Set("implicit.example", dnstestA(implicitIP)...)
	r := e.newRelay(nil).start()

	body := message("multi")
	reply, err := r.send("app@sender.example", []string{"a@ok1.example", "b@ok1.example", "c@ok2.example", "d@implicit.example"}, body)
	if err != nil {
		t.Fatal(err)
	}
	m := queuedAs.FindStringSubmatch(reply)
	if m == nil {
		t.Fatalf("250 reply %q does not carry the queue ID", reply)
	}
	id := m[1]
	got1 := ok1.WaitMessages(t, 1, 15*time.Second)
	got2 := ok2.WaitMessages(t, 1, 15*time.Second)
	got3 := implicit.WaitMessages(t, 1, 15*time.Second)
	if strings.Join(got1[0].To, ",") != "a@ok1.example,b@ok1.example" || got2[0].To[0] != "c@ok2.example" || got3[0].To[0] != "d@implicit.example" {
		t.Errorf("recipients: %v %v %v", got1[0].To, got2[0].To, got3[0].To)
	}
	if !got2[0].TLS {
		t.Error("ok2 offers STARTTLS but the message came in plaintext")
	}
	for _, g := range [][]smtptest.Message{got1, got2, got3} {
		data := g[0].Data
		if !bytes.HasSuffix(data, []byte(body)) {
			t.Errorf("body changed in transit:\n%q\nwant suffix\n%q", data, body)
		}
		added := string(data[:len(data)-len(body)])
		if !strings.HasPrefix(added, "Received: ") || !strings.Contains(added, id) || strings.Count(added, "\r\n") < 1 {
			t.Errorf("added headers %q: want one Received header naming %s", added, id)
		}
		if g[0].From != "app@sender.example" {
			t.Errorf("envelope sender %q", g[0].From)
		}
	}
	if !strings.Contains(r.logs(), id) {
		t.Error("the queue ID is not in the relay's log")
	}
}

func TestServe_DeferThenDeliverAndPermanentFailure(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mx := e.mx("mixed.example", 10, smtptest.Options{})
	mx.SetRcptFunc(func(addr string, attempt int) *smtptest.Reply {
		switch {
		case strings.HasPrefix(addr, "flaky") && attempt <= 2:
			return &smtptest.Reply{Code: 451, Enhanced: [3]int{4, 3, 0}, Message: "try again later"}
		case strings.HasPrefix(addr, "reject"):
			return &smtptest.Reply{Code: 550, Enhanced: [3]int{5, 1, 1}, Message: "no such user"}
		}
		return nil
	})
	r := e.newRelay(nil).start()
	if _, err := r.send("app@sender.example", []string{"flaky@mixed.example", "reject@mixed.example"}, message("defer")); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 20*time.Second, "the deferred recipient to be delivered", func() bool { return len(mx.Messages()) == 1 })
	if got := mx.Messages()[0].To; len(got) != 1 || got[0] != "flaky@mixed.example" {
		t.Errorf("delivered to %v", got)
	}
	if n := mx.RcptAttempts("flaky@mixed.example"); n != 3 {
		t.Errorf("flaky RCPT attempts = %d, want 3 (two deferrals, then success)", n)
	}
	time.Sleep(1500 * time.Millisecond) // longer than the retry interval
	if n := mx.RcptAttempts("reject@mixed.example"); n != 1 {
		t.Errorf("a 550 recipient was tried %d times, want 1", n)
	}
	if !strings.Contains(r.logs(), `"status":"bounced"`) || !strings.Contains(r.logs(), "550 5.1.1 no such user") {
		t.Errorf("no bounce log line for the 550 recipient:\n%s", r.logs())
	}
}

// TestServe_SIGKILLLosesNothing kills the relay while clients are
// submitting and the destination is down, restarts it, and checks that
// every message that got a 250 arrives.
func TestServe_SIGKILLLosesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mx := e.mx("crash.example", 10, smtptest.Options{})
	mx.Down()
	r := e.newRelay(nil).start()

	var mu sync.Mutex
	var accepted []string
	stop := clients(4, func(c, i int) {
		marker := fmt.Sprintf("crash-%d-%d", c, i)
		if _, err := r.send("app@sender.example", []string{"u@crash.example"}, message(marker)); err != nil {
			return // the relay is gone: this one was not accepted
		}
		mu.Lock()
		accepted = append(accepted, marker)
		mu.Unlock()
	})
	testwait.For(t, 20*time.Second, "20 accepted messages", func() bool { mu.Lock(); defer mu.Unlock(); return len(accepted) >= 20 })
	r.kill()
	stop()

	mx.Up()
	r.start()
	mu.Lock()
	want := append([]string(nil), accepted...)
	mu.Unlock()
	testwait.For(t, 60*time.Second, fmt.Sprintf("%d accepted messages to arrive", len(want)), func() bool {
		return len(missing(mx, want)) == 0
	})
	if err := r.stop(); err != nil {
		t.Errorf("clean stop after recovery: %v", err)
	}
	t.Logf("accepted %d before SIGKILL, all delivered after restart (%d arrivals)", len(want), len(mx.Messages()))
}

func missing(mx *smtptest.Server, markers []string) []string {
	seen := map[string]bool{}
	for _, m := range mx.Messages() {
		for _, line := range strings.Split(string(m.Data), "\r\n") {
			if strings.HasPrefix(line, "marker ") {
				seen[strings.TrimPrefix(line, "marker ")] = true
			}
		}
	}
	var out []string
	for _, m := range markers {
		if !seen[m] {
			out = append(out, m)
		}
	}
	return out
}

func TestServe_BadInputGetsSMTPErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.newRelay(nil).start()
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", r.port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	readReply := func() string {
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		var lines []string
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("read reply: %v (got %q)", err, lines)
			}
			lines = append(lines, strings.TrimRight(l, "\r\n"))
			if len(l) < 4 || l[3] != '-' {
				return strings.Join(lines, "|")
			}
		}
	}
	say := func(s string) string { fmt.Fprint(conn, s); return readReply() }
	readReply() // greeting
	steps := []struct{ send, wantPrefix string }{
		{"EHLO client.e2e.invalid\r\n", "250"},
		{"MAIL FROM:<not an address>\r\n", "5"},
		{"MAIL FROM:<app@sender.example>\r\n", "250"},
		{"RCPT TO:<@@>\r\n", "5"},
		{"RCPT TO:<u@ok.example>\r\n", "250"},
		{"DATA\r\n", "354"},
		{"Subject: smuggle\r\n\r\nline\n.\r\nMAIL FROM:<evil@x.example>\r\n.\r\n", "550 5.6.11"},
		{"\x00\xff garbage \r\n", "5"},
		{"QUIT\r\n", "221"},
	}
	for _, s := range steps {
		if got := say(s.send); !strings.HasPrefix(got, s.wantPrefix) {
			t.Errorf("%q -> %q, want %s...", s.send, got, s.wantPrefix)
		}
	}
	if r.cmd.ProcessState != nil {
		t.Fatal("relay exited on bad input")
	}
	if strings.Contains(r.logs(), "panic") {
		t.Errorf("panic in log:\n%s", r.logs())
	}
}

func TestServe_SIGTERMStopsCleanly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.newRelay(nil).start()
	if err := r.stop(); err != nil {
		t.Fatalf("SIGTERM exit: %v\n%s", err, r.logs())
	}
	if !strings.Contains(r.logs(), "mxout stopped") {
		t.Errorf("no clean-stop log line:\n%s", r.logs())
	}
}

func TestConfigCheck_NamesTheBadKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("delivery:\n  workers: -3\n"), 0o600)
	out, err := exec.Command(binary(t), "config", "check", "--config", bad).CombinedOutput()
	if err == nil {
		t.Fatalf("config check accepted workers: -3:\n%s", out)
	}
	if !strings.Contains(string(out), "delivery.workers") || strings.Count(strings.TrimSpace(string(out)), "\n") > 2 {
		t.Errorf("want one clear error naming delivery.workers, got:\n%s", out)
	}
	serve := exec.Command(binary(t), "serve", "--config", bad)
	serve.Dir = dir
	out, err = serve.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "delivery.workers") {
		t.Errorf("serve with a bad config: %v\n%s", err, out)
	}
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("delivery:\n  workers: 3\n"), 0o600)
	out, err = exec.Command(binary(t), "config", "check", "--config", good).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "workers: 3") {
		t.Errorf("config check of a good config: %v\n%s", err, out)
	}
}

// config check reads the submission certificate as serve does: a config
// it passes must not fail at start for a missing or broken key pair.
func TestConfigCheck_LoadsTheSubmissionCertificate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile := writeSelfSignedCert(t, dir)
	tests := []struct {
		name, cert, key string
		wantErr         bool
	}{
		{"loadable pair", certFile, keyFile, false},
		{"missing certificate", filepath.Join(dir, "nonexistent.pem"), keyFile, true},
		{"key and certificate swapped", keyFile, certFile, true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			conf := filepath.Join(dir, fmt.Sprintf("c%d.yaml", i))
			yaml := fmt.Sprintf("submission:\n  listeners:\n    - {address: \"127.0.0.1:%d\", tls: starttls}\n"+
				"  tls: {cert_file: %q, key_file: %q}\n", freePort(t), tc.cert, tc.key)
			if err := os.WriteFile(conf, []byte(yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(binary(t), "config", "check", "--config", conf).CombinedOutput()
			if tc.wantErr {
				if err == nil || !strings.Contains(string(out), "submission.tls") {
					t.Errorf("config check: want an error naming submission.tls, got %v:\n%s", err, out)
				}
				return
			}
			if err != nil || !strings.Contains(string(out), "(valid)") {
				t.Errorf("config check of a loadable pair: %v\n%s", err, out)
			}
		})
	}
}

// What serve cannot listen on or connect to, config check refuses first,
// naming the key (before, both values passed the check and serve failed).
func TestConfigCheck_RefusesPortsServeRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for i, bad := range []string{"127.0.0.1:99999", "127.0.0.1:abc"} {
		conf := filepath.Join(dir, fmt.Sprintf("c%d.yaml", i))
		os.WriteFile(conf, []byte("metrics:\n  listen: \""+bad+"\"\n"), 0o600)
		out, err := exec.Command(binary(t), "config", "check", "--config", conf).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "metrics.listen: ") || !strings.Contains(string(out), bad) {
			t.Errorf("config check of metrics.listen %s: %v\n%s", bad, err, out)
		}
	}
}
