package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/internal/testwait"
)

// sendmailRun is one finished run of the sendmail command.
type sendmailRun struct {
	code   int
	stderr string
}

// runSendmail runs argv[0] (the binary or a "sendmail" link to it) with
// the message on standard input and returns its exit status and stderr.
func runSendmail(t *testing.T, env []string, stdin string, argv ...string) sendmailRun {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return sendmailRun{0, stderr.String()}
	case errors.As(err, &ee):
		return sendmailRun{ee.ExitCode(), stderr.String()}
	}
	t.Fatalf("run %v: %v", argv, err)
	return sendmailRun{}
}

// sendmailLink makes a "sendmail" symlink to the binary, as
// `make install SENDMAIL_LINK=1` does.
func sendmailLink(t *testing.T) string {
	t.Helper()
	link := filepath.Join(t.TempDir(), "sendmail")
	if err := os.Symlink(binary(t), link); err != nil {
		t.Fatal(err)
	}
	return link
}

func TestSendmail_TakesRecipientsFromHeadersAndRemovesBcc(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mx := e.mx("dest.example", 10, smtptest.Options{})
	r := e.newRelay(nil).start()

	msg := "From: App <app@example.test>\nTo: to@dest.example\nCc: Cc Person <cc@dest.example>\n" +
		"Bcc: hidden@dest.example,\n  hidden2@dest.example\nSubject: sendmail -t\n\nmarker sendmail-t\n.leading dot\n"
	run := runSendmail(t, []string{"MXOUT_CONFIG=" + r.configPath}, msg, binary(t), "sendmail", "-t", "-f", "app@example.test")
	if run.code != 0 {
		t.Fatalf("exit %d: %s", run.code, run.stderr)
	}
	got := mx.WaitMessages(t, 1, 15*time.Second)[0]
	if got.From != "app@example.test" {
		t.Errorf("envelope sender %q", got.From)
	}
	if want := "to@dest.example,cc@dest.example,hidden@dest.example,hidden2@dest.example"; strings.Join(got.To, ",") != want {
		t.Errorf("recipients %v, want %s", got.To, want)
	}
	data := string(got.Data)
	if strings.Contains(strings.ToLower(data), "bcc:") || strings.Contains(data, "hidden") {
		t.Errorf("the Bcc header reached the MX:\n%s", data)
	}
	if !strings.Contains(data, "\r\nmarker sendmail-t\r\n.leading dot\r\n") || !strings.Contains(data, "Cc: Cc Person <cc@dest.example>\r\n") {
		t.Errorf("message changed in transit:\n%q", data)
	}
}

// git send-email, cron and PHP run /usr/sbin/sendmail; through the
// symlink the binary is that command, and the config comes from
// /etc/mxout or, here, -C.
func TestSendmail_ThroughTheSymlinkAsCallersInvokeIt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mx := e.mx("dest.example", 10, smtptest.Options{})
	r := e.newRelay(map[string]any{"sendmail": map[string]any{"domain": "host.example.test", "aliases": map[string]any{"root": "ops@dest.example"}}}).start()
	link := sendmailLink(t)
	env := []string{"MXOUT_CONFIG=" + r.configPath}

	tests := []struct {
		name, stdin string
		argv        []string
		wantFrom    string
		wantTo      string
		wantInData  string
	}{
		{
			name:     "git send-email",
			argv:     []string{link, "-i", "-f", "dev@example.test", "list@dest.example"},
			stdin:    "From: Dev <dev@example.test>\nSubject: [PATCH] fix\n\nmarker git\n.\n-- \n2.39.5\n",
			wantFrom: "dev@example.test", wantTo: "list@dest.example", wantInData: "marker git\r\n.\r\n-- \r\n",
		},
		{
			name:     "cron mails root",
			argv:     []string{link, "-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root"},
			stdin:    "Subject: Cron <root@host> run-parts /etc/cron.daily\nContent-Type: text/plain; charset=UTF-8\n\nmarker cron\n",
			wantFrom: "@host.example.test", wantTo: "ops@dest.example", wantInData: "From: \"CronDaemon\" <",
		},
		{
			name:     "PHP mail()",
			argv:     []string{link, "-t", "-i", "-fwww@example.test"},
			stdin:    "To: customer@dest.example\nSubject: Your order\nX-PHP-Originating-Script: 33:order.php\n\nmarker php\n",
			wantFrom: "www@example.test", wantTo: "customer@dest.example", wantInData: "marker php",
		},
	}
	for i, tt := range tests {
		run := runSendmail(t, env, tt.stdin, tt.argv...)
		if run.code != 0 {
			t.Fatalf("%s: exit %d: %s", tt.name, run.code, run.stderr)
		}
		got := mx.WaitMessages(t, i+1, 15*time.Second)[i]
		if !strings.HasSuffix(got.From, tt.wantFrom) || strings.Join(got.To, ",") != tt.wantTo || !strings.Contains(string(got.Data), tt.wantInData) {
			t.Errorf("%s: got %s -> %v:\n%s", tt.name, got.From, got.To, got.Data)
		}
	}
}

func TestSendmail_RefusalsAreOneLineWithSysexits(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	down := e.newRelay(nil) // written, never started: nothing listens on its port
	tests := []struct {
		name     string
		argv     []string
		wantCode int
		wantMsg  string
	}{
		{"relay down", []string{"-i", "a@dest.example"}, 75, "is not reachable"},
		{"mailq mode with no relay and no queue", []string{"-bp"}, 69, "queue report unavailable: no queue at "},
		{"no recipients", []string{"-i"}, 64, "no recipients"},
		{"-t without any", []string{"-t"}, 65, "no recipients"},
		{"missing config", []string{"-C", "/nonexistent/mxout.yaml", "a@dest.example"}, 78, "/nonexistent/mxout.yaml"},
	}
	for _, tt := range tests {
		run := runSendmail(t, []string{"MXOUT_CONFIG=" + down.configPath}, "Subject: x\n\nx\n", append([]string{sendmailLink(t)}, tt.argv...)...)
		if run.code != tt.wantCode || !strings.HasPrefix(run.stderr, "sendmail: ") || !strings.Contains(run.stderr, tt.wantMsg) || strings.Count(run.stderr, "\n") != 1 {
			t.Errorf("%s: exit %d, stderr %q; want exit %d and one line with %q", tt.name, run.code, run.stderr, tt.wantCode, tt.wantMsg)
		}
	}
}

// Callers run sendmail while the relay crashes and restarts: every run
// that exited 0 is delivered, every other run exited 75 (try again), so
// nothing sendmail reported as sent is lost.
func TestSendmail_RelayCrashLosesNothingReportedSent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mx := e.mx("crash.example", 10, smtptest.Options{})
	mx.Down()
	r := e.newRelay(nil).start()
	env := []string{"MXOUT_CONFIG=" + r.configPath}

	var mu sync.Mutex
	var sent []string
	codes := map[int]int{}
	stop := clients(3, func(c, i int) {
		marker := fmt.Sprintf("sm-%d-%d", c, i)
		run := runSendmail(t, env, message(marker), binary(t), "sendmail", "-i", "-f", "app@sender.example", "u@crash.example")
		mu.Lock()
		codes[run.code]++
		if run.code == 0 {
			sent = append(sent, marker)
		}
		mu.Unlock()
	})
	testwait.For(t, 30*time.Second, "10 messages sent", func() bool { mu.Lock(); defer mu.Unlock(); return len(sent) >= 10 })
	r.kill()
	testwait.For(t, 30*time.Second, "a run to fail with the relay down", func() bool { mu.Lock(); defer mu.Unlock(); return codes[75] > 0 })
	stop()

	mx.Up()
	r.start()
	mu.Lock()
	defer mu.Unlock()
	for code, n := range codes {
		if code != 0 && code != 75 {
			t.Errorf("%d runs exited %d, want only 0 (sent) or 75 (try again)", n, code)
		}
	}
	testwait.For(t, 60*time.Second, fmt.Sprintf("the %d messages sendmail reported sent", len(sent)), func() bool { return len(missing(mx, sent)) == 0 })
	t.Logf("%d runs exited 0 and arrived, %d exited 75 while the relay was down", codes[0], codes[75])
}

// Where the first listener is STARTTLS-only and loopback is not trusted,
// sendmail starts TLS and authenticates with sendmail.username/password.
func TestSendmail_STARTTLSAndAUTHFromTheConfig(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mx := e.mx("dest.example", 10, smtptest.Options{})
	dir := certAndUsers(t, "relay", map[string]string{"cron": "s3cret"})
	r := submissionRelay(t, e, dir, nil)
	env := []string{"MXOUT_CONFIG=" + r.configPath}

	run := runSendmail(t, env, "Subject: x\n\nno credentials\n", binary(t), "sendmail", "-i", "-f", "cron@sender.example", "a@dest.example")
	if run.code != 77 || !strings.Contains(run.stderr, "530") {
		t.Errorf("without credentials: exit %d %q, want 77 and the relay's 530", run.code, run.stderr)
	}
	r.config["sendmail"] = map[string]any{"username": "cron"}
	r.writeConfig()
	env = append(env, "MXOUT_SENDMAIL_PASSWORD=s3cret")
	run = runSendmail(t, env, "Subject: x\n\nmarker sendmail-auth\n", binary(t), "sendmail", "-i", "-f", "cron@sender.example", "a@dest.example")
	if run.code != 0 {
		t.Fatalf("exit %d: %s", run.code, run.stderr)
	}
	got := mx.WaitMessages(t, 1, 15*time.Second)[0]
	if !strings.Contains(string(got.Data), "marker sendmail-auth") {
		t.Errorf("MX got:\n%s", got.Data)
	}
	if !strings.Contains(r.logs(), `"user":"cron"`) || !strings.Contains(r.logs(), `"tls":true`) {
		t.Errorf("no authenticated TLS submission from cron in the log:\n%s", r.logs())
	}
}
