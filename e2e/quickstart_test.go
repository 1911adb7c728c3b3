package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/internal/testwait"
)

// The examples of docs/quickstart-*.md live in docs/examples with
// example.com names; these tests run them against a real relay after
// replacing the names, so the docs show code that works.

const examples = "../docs/examples/"

// example reads docs/examples/name with the example names replaced for a
// relay that listens on localhost:port (STARTTLS, AUTH app1).
func example(t *testing.T, name string, port int) string {
	t.Helper()
	b, err := os.ReadFile(examples + name)
	if err != nil {
		t.Fatal(err)
	}
	p := strconv.Itoa(port)
	return strings.NewReplacer(
		"mxout.example.com:587", "localhost:"+p,
		"mxout.example.com", "localhost",
		"587", p,
		"noreply@example.com", "app@sender.example",
		"customer@example.net", "customer@dest.example",
	).Replace(string(b))
}

// tlsRelay starts a relay with a STARTTLS listener, the user app1 with
// the docs' password, and an MX for dest.example; it returns the relay,
// the MX and the certificate file to trust.
func tlsRelay(t *testing.T) (*relay, *smtptest.Server, string) {
	t.Helper()
	e := newEnv(t)
	// No SMTPUTF8 at the MX: Go's net/smtp asks the relay for it on every
	// message, and the (ASCII) mail must still get through.
	mx := e.mx("dest.example", 10, smtptest.Options{})
	dir := certAndUsers(t, "localhost", map[string]string{"app1": "the-password"})
	return submissionRelay(t, e, dir, nil), mx, filepath.Join(dir, "cert.pem")
}

func need(t *testing.T, tool string) {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		t.Skipf("%s is not installed; its quick-start example is not run", tool)
	}
}

func TestQuickstart_AppsSendOverSTARTTLSWithAUTH(t *testing.T) {
	t.Parallel()
	r, mx, cert := tlsRelay(t)
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) *exec.Cmd
	}{
		{"python", func(t *testing.T, dir string) *exec.Cmd {
			need(t, "python3")
			cmd := exec.Command("python3", "-")
			cmd.Stdin = strings.NewReader(example(t, "apps/send.py", r.port))
			cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+cert)
			return cmd
		}},
		{"node", func(t *testing.T, dir string) *exec.Cmd {
			need(t, "node")
			if _, err := os.Stat(examples + "apps/node_modules/nodemailer"); err != nil {
				t.Skip("nodemailer is not installed (npm install --prefix docs/examples/apps, as .ci/run does)")
			}
			abs, _ := filepath.Abs(examples + "apps/node_modules")
			cmd := exec.Command("node", "-")
			cmd.Stdin = strings.NewReader(example(t, "apps/send.js", r.port))
			cmd.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS="+cert, "NODE_PATH="+abs)
			return cmd
		}},
		{"go", func(t *testing.T, dir string) *exec.Cmd {
			writeFile(t, filepath.Join(dir, "main.go"), []byte(example(t, "apps/gosend/main.go", r.port)))
			cmd := exec.Command("go", "run", "main.go")
			cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+cert, "GOFLAGS=", "GO111MODULE=on")
			return cmd
		}},
		{"curl", func(t *testing.T, dir string) *exec.Cmd {
			need(t, "curl")
			cmd := exec.Command("sh", "-e")
			cmd.Stdin = strings.NewReader(example(t, "apps/send-curl.sh", r.port))
			cmd.Env = append(os.Environ(), "CURL_CA_BUNDLE="+cert)
			return cmd
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cmd := tt.setup(t, dir)
			cmd.Dir = dir
			before := mx.MessageCount()
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v\n%s\nrelay log:\n%s", err, out, r.logs())
			}
			testwait.For(t, 15*time.Second, "the message at the MX; relay log:\n"+r.logs(), func() bool { return mx.MessageCount() > before })
			got := mx.Messages()[before]
			if got.From != "app@sender.example" || strings.Join(got.To, ",") != "customer@dest.example" || !strings.Contains(string(got.Data), "Thank you for your order.") {
				t.Errorf("MX got %s -> %v:\n%s", got.From, got.To, got.Data)
			}
		})
	}
}

// The bounce parser of the apps quick start reads a real bounce.
func TestQuickstart_ReadBounces(t *testing.T) {
	t.Parallel()
	need(t, "python3")
	e := newEnv(t)
	senderMX := e.mx("sender.example", 10, smtptest.Options{})
	dest := e.mx("dest.example", 10, smtptest.Options{})
	dest.SetRcpt("gone@dest.example", &smtptest.Reply{Code: 550, Enhanced: [3]int{5, 1, 1}, Message: "no such mailbox"})
	r := e.newRelay(nil).start()
	if _, err := r.send("app@sender.example", []string{"gone@dest.example"}, message("bounce-me")); err != nil {
		t.Fatal(err)
	}
	bounce := senderMX.WaitMessages(t, 1, 15*time.Second)[0]
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "bounce.eml"), bounce.Data)
	abs, _ := filepath.Abs(examples + "apps")
	cmd := exec.Command("python3", "-c", "import sys; from bounces import failed_recipients; print(failed_recipients(open(sys.argv[1], 'rb').read()))", filepath.Join(dir, "bounce.eml"))
	cmd.Env = append(os.Environ(), "PYTHONPATH="+abs, "PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); !strings.HasPrefix(got, "[('gone@dest.example', '5.1.1', 'smtp; 550") {
		t.Errorf("failed_recipients = %s", got)
	}
}

func TestQuickstart_MsmtpSendsThroughMxout(t *testing.T) {
	t.Parallel()
	need(t, "msmtp")
	r, mx, cert := tlsRelay(t)
	rc := strings.ReplaceAll(example(t, "msmtp/msmtprc", r.port), "/etc/ssl/certs/ca-certificates.crt", cert)
	path := filepath.Join(t.TempDir(), "msmtprc")
	if err := os.WriteFile(path, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("msmtp", "-C", path, "-t")
	cmd.Stdin = strings.NewReader("To: customer@dest.example\nSubject: from msmtp\n\nmarker msmtp\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("msmtp: %v\n%s\nrelay log:\n%s", err, out, r.logs())
	}
	got := mx.WaitMessages(t, 1, 15*time.Second)[0]
	if got.From != "app@sender.example" || !strings.Contains(string(got.Data), "marker msmtp") {
		t.Errorf("MX got %s -> %v:\n%s", got.From, got.To, got.Data)
	}
}

// The config examples pass `mxout config check` (users file and
// certificate included: the check reads them, as serve does).
func TestQuickstart_ConfigExamplesCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	users, _ := filepath.Abs(examples + "users.yaml")
	certFile, keyFile := writeSelfSignedCert(t, dir)
	conf := strings.NewReplacer("/etc/mxout/users.yaml", users, "/var/lib/mxout", filepath.Join(dir, "data"),
		"/etc/mxout/tls/fullchain.pem", certFile, "/etc/mxout/tls/privkey.pem", keyFile).Replace(example(t, "mxout-submission.yaml", 587))
	writeFile(t, filepath.Join(dir, "submission.yaml"), []byte(conf))
	writeFile(t, filepath.Join(dir, "metrics.yaml"), []byte(example(t, "sre/metrics.yaml", 0)))
	for _, f := range []string{"submission.yaml", "metrics.yaml"} {
		out, err := exec.Command(binary(t), "config", "check", "--config", filepath.Join(dir, f)).CombinedOutput()
		if err != nil {
			t.Errorf("config check %s: %v\n%s", f, err, out)
		}
	}
}

// The scrape config reaches the relay's /metrics, and the docs' curl line
// shows the queue depth; promtool accepts the config where installed.
func TestQuickstart_PrometheusScrapesTheRelay(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.newRelay(nil).start()
	target := fmt.Sprintf("127.0.0.1:%d", r.metricsPort)
	scrape := strings.ReplaceAll(example(t, "sre/prometheus.yml", 0), "10.0.0.5:9090", target)
	if !strings.Contains(scrape, `targets: ["`+target+`"]`) {
		t.Fatalf("no target in the scrape config:\n%s", scrape)
	}
	need(t, "curl")
	line := strings.ReplaceAll(quickstartLine(t, "quickstart-sre.md", "curl -s http://127.0.0.1:9090/metrics"), "127.0.0.1:9090", target)
	out, err := exec.Command("sh", "-c", line).CombinedOutput()
	if err != nil || !strings.Contains(string(out), `mxout_queue_messages{state="ready"} 0`) {
		t.Errorf("%s: %v\n%s", line, err, out)
	}
	if _, err := exec.LookPath("promtool"); err != nil {
		t.Log("promtool is not installed; the scrape config is not checked by it")
		return
	}
	dir := t.TempDir()
	rules := filepath.Join(dir, "mxout-alerts.yml")
	alerts, err := os.ReadFile("../docs/prometheus/alerts.yml")
	if err != nil {
		alerts = []byte("groups: []\n")
	}
	writeFile(t, rules, alerts)
	writeFile(t, filepath.Join(dir, "prometheus.yml"), []byte(strings.ReplaceAll(scrape, "/etc/prometheus/mxout-alerts.yml", rules)))
	if out, err := exec.Command("promtool", "check", "config", filepath.Join(dir, "prometheus.yml")).CombinedOutput(); err != nil {
		t.Errorf("promtool check config: %v\n%s", err, out)
	}
}

// `mxout import` prints what the golden files of package migrate hold.
func TestQuickstart_ImportPostfixAndOpenDKIM(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ kind, in, golden string }{
		{"postfix", "../migrate/testdata/postfix/smarthost-tuned.cf", "../migrate/testdata/postfix/smarthost-tuned.golden.yaml"},
		{"opendkim", "../migrate/testdata/opendkim/single.conf", "../migrate/testdata/opendkim/single.golden.yaml"},
	} {
		out, err := exec.Command(binary(t), "import", tt.kind, tt.in).Output()
		if err != nil {
			t.Fatalf("mxout import %s: %v", tt.kind, err)
		}
		want, err := os.ReadFile(tt.golden)
		if err != nil {
			t.Fatal(err)
		}
		_, gotBody, _ := strings.Cut(string(out), "\n")
		_, wantBody, _ := strings.Cut(string(want), "\n")
		if gotBody != wantBody {
			t.Errorf("mxout import %s %s differs from %s:\n%s", tt.kind, tt.in, tt.golden, out)
		}
	}
}

// quickstartLine is the line of docs/name that starts with prefix.
func quickstartLine(t *testing.T, name, prefix string) string {
	t.Helper()
	b, err := os.ReadFile("../docs/" + name)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	t.Fatalf("docs/%s has no line starting %q", name, prefix)
	return ""
}

// Every code block of the quick starts is a part of a file under
// docs/examples (which the tests above run), or follows a comment
// <!-- tested: FILE TestName --> naming the test that runs it.
func TestQuickstart_EverySnippetIsTested(t *testing.T) {
	t.Parallel()
	var corpus strings.Builder
	filepath.Walk(examples, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && !strings.Contains(p, "node_modules") {
			b, _ := os.ReadFile(p)
			corpus.Write(b)
			corpus.WriteString("\n")
		}
		return nil
	})
	for _, name := range []string{"quickstart-apps.md", "quickstart-sysadmins.md", "quickstart-sre.md"} {
		f, err := os.Open("../docs/" + name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		var block []string
		var marker string
		in, lineNo, start := false, 0, 0
		for sc.Scan() {
			l := sc.Text()
			lineNo++
			switch {
			case !in && strings.HasPrefix(l, "```"):
				in, block, start = true, nil, lineNo
			case in && l == "```":
				in = false
				checkSnippet(t, name, start, strings.Join(block, "\n"), marker, corpus.String())
				marker = ""
			case in:
				block = append(block, l)
			case strings.HasPrefix(l, "<!-- tested: "):
				marker = strings.TrimSuffix(strings.TrimPrefix(l, "<!-- tested: "), " -->")
			case strings.HasPrefix(l, "<!-- not tested: "):
				marker = "-"
				t.Logf("docs/%s:%d: a snippet the suite does not run: %s", name, lineNo+1, strings.TrimSuffix(strings.TrimPrefix(l, "<!-- not tested: "), " -->"))
			case strings.TrimSpace(l) != "":
				marker = ""
			}
		}
		f.Close()
	}
}

func checkSnippet(t *testing.T, doc string, line int, block, marker, corpus string) {
	t.Helper()
	if marker == "-" {
		return
	}
	if marker != "" {
		file, fn, _ := strings.Cut(marker, " ")
		b, err := os.ReadFile("../" + file)
		if err != nil || fn == "" || !strings.Contains(string(b), "func "+fn+"(") {
			t.Errorf("docs/%s:%d: the marker names %q, which is not a test function in %s", doc, line, fn, file)
		}
		return
	}
	if !strings.Contains(corpus, block) {
		t.Errorf("docs/%s:%d: this snippet is neither copied from a file under docs/examples nor marked <!-- tested: FILE Test -->:\n%s", doc, line, block)
	}
}

// The passwd line of the apps quick start prints a hash of the password.
func TestQuickstart_PasswdHashVerifies(t *testing.T) {
	t.Parallel()
	line := strings.Replace(quickstartLine(t, "quickstart-apps.md", "printf '%s\\n' 'the-password' | mxout passwd"), "mxout", binary(t), 1)
	out, err := exec.Command("sh", "-c", line).Output()
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(strings.TrimSpace(string(out))), []byte("the-password")); err != nil {
		t.Errorf("%s printed %q: %v", line, out, err)
	}
}
