package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mxout/mxout/delivery/smtptest"
)

// postfixMaster lists the services a private Postfix needs to take mail
// from its sendmail and relay it: no smtpd, so it listens on no port.
const postfixMaster = `pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
postlog   unix-dgram n  -       n       -       1       postlogd
`

// privatePostfix is a Postfix instance of its own: config, queue and data
// directories in a temporary directory, loopback only, no listening port,
// logging to a file there. The system's instance is never touched.
type privatePostfix struct {
	dir, conf string
	sendmail  string
}

// startPostfix starts a private Postfix whose main.cf is the base
// settings plus extra. It skips the test where Postfix is not installed
// or the test does not run as root (postfix start needs root).
func startPostfix(t *testing.T, extra string, files map[string]string) *privatePostfix {
	t.Helper()
	if _, err := exec.LookPath("postfix"); err != nil {
		t.Skip("Postfix is not installed (DEBIAN_FRONTEND=noninteractive apt-get install -y postfix); the Postfix relayhost test is skipped")
	}
	if os.Geteuid() != 0 {
		t.Skip("starting a private Postfix instance needs root; skipped")
	}
	sendmailPath, err := exec.Command("postconf", "-h", "-d", "sendmail_path").Output()
	if err != nil {
		t.Skipf("postconf: %v", err)
	}
	// Postfix's daemons drop to the postfix user: the directory must be
	// reachable by it, so not under t.TempDir (mode 0700).
	dir, err := os.MkdirTemp("", "mxout-postfix-")
	if err != nil {
		t.Fatal(err)
	}
	p := &privatePostfix{dir: dir, conf: filepath.Join(dir, "conf"), sendmail: strings.TrimSpace(string(sendmailPath))}
	for _, d := range []string{dir, p.conf, filepath.Join(dir, "queue"), filepath.Join(dir, "data")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		os.Chmod(d, 0o755)
	}
	if err := exec.Command("chown", "postfix", filepath.Join(dir, "data")).Run(); err != nil {
		t.Fatalf("chown postfix: %v", err)
	}
	mainCF := fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %[1]s/queue
data_directory = %[1]s/data
maillog_file = %[1]s/maillog
maillog_file_prefixes = %[1]s
myhostname = postfix.e2e.invalid
mydomain = e2e.invalid
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
local_transport = error:this test instance delivers no local mail
smtp_dns_support_level = disabled
`, dir) + extra
	writeFile(t, filepath.Join(p.conf, "main.cf"), []byte(mainCF))
	writeFile(t, filepath.Join(p.conf, "master.cf"), []byte(postfixMaster))
	for name, body := range files {
		writeFile(t, filepath.Join(p.conf, name), []byte(body))
		os.Chmod(filepath.Join(p.conf, name), 0o644)
	}
	t.Cleanup(func() {
		p.stop(t)
		if !t.Failed() {
			os.RemoveAll(dir)
		}
	})
	if out, err := exec.Command("postfix", "-c", p.conf, "start").CombinedOutput(); err != nil {
		t.Fatalf("postfix -c %s start: %v\n%s\nmaillog:\n%s", p.conf, err, out, p.log())
	}
	return p
}

func (p *privatePostfix) log() string {
	b, _ := os.ReadFile(filepath.Join(p.dir, "maillog"))
	return string(b)
}

// stop stops the instance and makes sure its master process is gone.
func (p *privatePostfix) stop(t *testing.T) {
	exec.Command("postfix", "-c", p.conf, "stop").Run()
	b, err := os.ReadFile(filepath.Join(p.dir, "queue", "pid", "master.pid"))
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return
	}
	for i := 0; i < 100 && syscall.Kill(pid, 0) == nil; i++ {
		time.Sleep(50 * time.Millisecond)
	}
	if syscall.Kill(pid, 0) == nil {
		t.Logf("Postfix master %d did not stop; killing it", pid)
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// A host's Postfix, configured with the lines of
// docs/examples/postfix/main.cf, relays through mxout (STARTTLS, AUTH):
// a message handed to Postfix's sendmail reaches the MX through mxout.
func TestPostfix_RelayhostThroughMxout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mx := e.mx("dest.example", 10, smtptest.Options{})
	dir := certAndUsers(t, "mxout", map[string]string{"app1": "the-password"})
	r := submissionRelay(t, e, dir, nil)

	relay := fmt.Sprintf("[127.0.0.1]:%d", r.port)
	snippet, err := os.ReadFile("../docs/examples/postfix/main.cf")
	if err != nil {
		t.Fatal(err)
	}
	passwd, err := os.ReadFile("../docs/examples/postfix/sasl_passwd")
	if err != nil {
		t.Fatal(err)
	}
	pf := startPostfix(t, "", nil)
	extra := strings.NewReplacer("[mxout.example.com]:587", relay, "/etc/postfix/sasl_passwd", filepath.Join(pf.conf, "sasl_passwd")).Replace(string(snippet))
	writeFile(t, filepath.Join(pf.conf, "sasl_passwd"), []byte(strings.ReplaceAll(string(passwd), "[mxout.example.com]:587", relay)))
	f, err := os.OpenFile(filepath.Join(pf.conf, "main.cf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(extra)
	f.Close()
	if out, err := exec.Command("postfix", "-c", pf.conf, "reload").CombinedOutput(); err != nil {
		t.Fatalf("postfix reload: %v\n%s", err, out)
	}

	cmd := exec.Command(pf.sendmail, "-C", pf.conf, "-i", "-f", "app@sender.example", "someone@dest.example")
	cmd.Stdin = strings.NewReader("From: app@sender.example\nTo: someone@dest.example\nSubject: through postfix\n\nmarker postfix-relayhost\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("Postfix sendmail: %v\n%s", err, out)
	}
	var got smtptest.Message
	deadline := time.Now().Add(30 * time.Second)
	for len(mx.Messages()) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the message did not reach the MX.\nPostfix log:\n%s\nmxout log:\n%s", pf.log(), r.logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
	got = mx.Messages()[0]
	if got.From != "app@sender.example" || got.To[0] != "someone@dest.example" || !strings.Contains(string(got.Data), "marker postfix-relayhost") {
		t.Errorf("MX got %s -> %v:\n%s", got.From, got.To, got.Data)
	}
	// Postfix's smtp client logs status=sent after mxout's 250, through
	// postlogd, so the line can come after mxout has already delivered.
	handedOver := func() bool {
		plog := pf.log()
		return strings.Contains(plog, "relay=127.0.0.1[127.0.0.1]:"+strconv.Itoa(r.port)) && strings.Contains(plog, "status=sent (250 2.0.0 Ok: queued as")
	}
	for deadline := time.Now().Add(10 * time.Second); !handedOver() && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if !handedOver() {
		t.Errorf("Postfix did not log the hand-over to mxout:\n%s", pf.log())
	}
	if !strings.Contains(r.logs(), `"user":"app1"`) || !strings.Contains(r.logs(), `"tls":true`) {
		t.Errorf("mxout did not log an authenticated TLS submission from app1:\n%s", r.logs())
	}
}
