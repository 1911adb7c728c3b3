package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxout/mxout/admin"
	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/internal/testwait"
	"github.com/mxout/mxout/queue"
)

// sendID submits one message and returns its queue ID.
func (r *relay) sendID(t *testing.T, from, to string) string {
	t.Helper()
	reply, err := r.send(from, []string{to}, "Subject: mailq\r\n\r\nmailq test\r\n")
	m := queuedAs.FindStringSubmatch(reply)
	if err != nil || m == nil {
		t.Fatalf("send to %s: %q, %v", to, reply, err)
	}
	return m[1]
}

// checkMailq runs Nagios' check_mailq (monitoring-plugins) in Postfix mode
// against mailq: the plugin unchanged, beside a copy of its utils.pm whose
// PATH_TO_MAILQ (a path fixed when the plugins are built) names mailq.
// It returns the plugin's output and exit status.
func checkMailq(t *testing.T, mailq string, env []string, args ...string) (string, int) {
	t.Helper()
	const plugins = "/usr/lib/nagios/plugins"
	script, err := os.ReadFile(filepath.Join(plugins, "check_mailq"))
	if err != nil {
		t.Skipf("check_mailq is not installed (apt-get install monitoring-plugins-standard): %v", err)
	}
	utils, err := os.ReadFile(filepath.Join(plugins, "utils.pm"))
	if err != nil {
		t.Fatal(err)
	}
	pathLine := regexp.MustCompile(`(?m)^\$PATH_TO_MAILQ\s*=.*$`)
	if !pathLine.Match(utils) {
		t.Fatalf("%s/utils.pm sets no $PATH_TO_MAILQ", plugins)
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "utils.pm"), pathLine.ReplaceAll(utils, []byte(fmt.Sprintf("$$PATH_TO_MAILQ = %q;", mailq))))
	writeFile(t, filepath.Join(dir, "check_mailq"), script)
	cmd := exec.Command("perl", append([]string{filepath.Join(dir, "check_mailq"), "-M", "postfix"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil && cmd.ProcessState == nil {
		t.Fatalf("check_mailq: %v", err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}

// mailq (a symlink to the binary) and `mxout sendmail -bp` print the queue
// as Postfix's mailq does, and Nagios' check_mailq reads it.
func TestMailq_PostfixFormatReadByCheckMailq(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	grey := e.mx("grey.example", 10, smtptest.Options{})
	grey.SetRcpt("a@grey.example", &smtptest.Reply{Code: 451, Enhanced: [3]int{4, 7, 1}, Message: "Greylisted, try again later"})
	down := e.mx("down.example", 10, smtptest.Options{})
	down.Down()
	slow := e.mx("slow.example", 10, smtptest.Options{})
	release := make(chan struct{})
	slow.OnMessage(func(smtptest.Message) { <-release }) // the delivery stays in flight
	t.Cleanup(func() { close(release) })
	adminAddr, overrides := adminOverrides(t)
	// One attempt each, then nothing until the test ends: a greylisted
	// message retried on the relay's schedule would be in flight ("*") in
	// one listing and deferred in the next.
	overrides["delivery"] = map[string]any{"retry": map[string]any{"initial": "1h", "max_interval": "1h"}}
	r := e.newRelay(overrides).start()
	env := []string{"MXOUT_CONFIG=" + r.configPath, "TZ=UTC"}
	link := filepath.Join(t.TempDir(), "mailq")
	if err := os.Symlink(binary(t), link); err != nil {
		t.Fatal(err)
	}

	out, stderr, code := runBinary(t, r.dir, "", env, "", "sendmail", "-bp")
	if code != 0 || out != "Mail queue is empty\n" {
		t.Errorf("sendmail -bp on an empty queue: exit %d, %q %q", code, out, stderr)
	}
	if out, code := checkMailq(t, link, env, "-w", "1", "-c", "5"); code != 0 || !strings.Contains(out, "OK: postfix mailq reports queue is empty") {
		t.Errorf("check_mailq on an empty queue: exit %d, %q", code, out)
	}

	greyID := r.sendID(t, "app@example.com", "a@grey.example")
	heldID := r.sendID(t, "", "x@down.example")
	slowID := r.sendID(t, "app@example.com", "c@slow.example")
	if _, stderr, err := r.steer("hold", heldID); err != nil {
		t.Fatalf("hold: %v %s", err, stderr)
	}
	client := admin.NewClient(adminAddr, "")
	show := func(id string) admin.Message {
		t.Helper()
		qid, err := queue.ParseID(id)
		if err != nil {
			t.Fatal(err)
		}
		m, err := client.Show(t.Context(), qid, false)
		if err != nil {
			t.Fatalf("show %s: %v", id, err)
		}
		return m
	}
	testwait.For(t, 30*time.Second, "the greylisted message deferred, the other in flight", func() bool {
		grey := show(greyID)
		return grey.State == "deferred" && grey.Recipients[0].LastResponse != "" && show(slowID).State == "inflight"
	})

	out, stderr, code = runBinary(t, r.dir, "", env, "", "sendmail", "-bp")
	if code != 0 {
		t.Fatalf("sendmail -bp: exit %d, %s", code, stderr)
	}
	t.Logf("mailq:\n%s", out)
	viaLink, stderr, code := runBinary(t, r.dir, "mailq", env, "")
	if code != 0 || viaLink != out {
		t.Errorf("mailq (the link): exit %d %s, output\n%s\nwant what sendmail -bp printed", code, stderr, viaLink)
	}

	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if want := "----Queue ID----- --Size-- ---Arrival Time---- --Sender/Recipient------"; lines[0] != want {
		t.Errorf("heading %q, want %q", lines[0], want)
	}
	stats, err := client.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("-- %d Kbytes in 3 Requests.", stats.Bytes/1024); lines[len(lines)-1] != want || lines[len(lines)-2] != "" {
		t.Errorf("summary %q, want %q after an empty line", lines[len(lines)-1], want)
	}
	recipient := func(addr string) string { return strings.Repeat(" ", 47) + addr }
	block := func(id, mark, sender string, rest ...string) {
		t.Helper()
		m := show(id)
		first := fmt.Sprintf("%-17s %8d %s %s", id+mark, m.Size, m.Arrival.UTC().Format("Mon Jan _2 15:04:05"), sender)
		i := slices.Index(lines, first)
		if i < 0 || i+len(rest) >= len(lines) || !slices.Equal(lines[i+1:i+1+len(rest)], rest) || lines[i+1+len(rest)] != "" {
			t.Errorf("mailq has no block\n%s\n%s", first, strings.Join(rest, "\n"))
		}
	}
	why := show(greyID).Recipients[0].LastResponse
	if !strings.Contains(why, "451 4.7.1 Greylisted") {
		t.Errorf("the deferral reason is %q", why)
	}
	block(greyID, "", "app@example.com", strings.Repeat(" ", 76-len(why))+"("+why+")", recipient("a@grey.example"))
	block(slowID, "*", "app@example.com", recipient("c@slow.example"))
	if why := show(heldID).Recipients[0].LastResponse; why != "" {
		block(heldID, "!", "MAILER-DAEMON", strings.Repeat(" ", max(76-len(why), 0))+"("+why+")", recipient("x@down.example"))
	} else {
		block(heldID, "!", "MAILER-DAEMON", recipient("x@down.example"))
	}

	// Nagios' check_mailq, as it watches Postfix.
	if out, code := checkMailq(t, link, env, "-w", "2", "-c", "5"); code != 1 || !strings.Contains(out, "WARNING: postfix mailq is 3 (threshold w = 2)") {
		t.Errorf("check_mailq -w 2 -c 5 on 3 messages: exit %d, %q; want WARNING (1)", code, out)
	}
	if out, code := checkMailq(t, link, env, "-w", "5", "-c", "10"); code != 0 || !strings.Contains(out, "OK: postfix mailq (3) is below threshold (5/10)") {
		t.Errorf("check_mailq -w 5 -c 10 on 3 messages: exit %d, %q; want OK (0)", code, out)
	}
}
