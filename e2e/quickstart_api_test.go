package e2e

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/internal/testcert"
	"github.com/mxout/mxout/internal/testwait"
)

// The HTTP examples of docs/quickstart-apps.md (sections 4 and 5), run
// with real interpreters against the built binary: curl, Python with
// requests and Node's fetch send over HTTPS; the Python and Node webhook
// receivers verify the relay's signatures and print its events.

// apiExample reads docs/examples/apps/name with the docs' names replaced
// for a relay whose API is https://localhost:apiPort, and a webhook
// receiver on hookPort.
func apiExample(t *testing.T, name string, apiPort, hookPort int) string {
	t.Helper()
	b, err := os.ReadFile(examples + "apps/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return strings.NewReplacer(
		"https://mxout.example.com:8443", "https://localhost:"+strconv.Itoa(apiPort),
		"noreply@example.com", "app@sender.example",
		"customer@example.net", "customer@dest.example",
		`("127.0.0.1", 8000)`, fmt.Sprintf(`("127.0.0.1", %d)`, hookPort),
		`.listen(8000, "127.0.0.1")`, fmt.Sprintf(`.listen(%d, "127.0.0.1")`, hookPort),
	).Replace(string(b))
}

// need is not enough for Python: the send example also needs requests.
func needPythonRequests(t *testing.T) {
	t.Helper()
	need(t, "python3")
	if out, err := exec.Command("python3", "-c", "import requests").CombinedOutput(); err != nil {
		t.Fatalf("python3 has no requests module (apt-get install python3-requests, as .ci/run does): %v\n%s", err, out)
	}
}

// apiTLSRelay starts a relay whose API listens with TLS on a certificate
// for localhost, with the key app (senders at sender.example); overrides
// are merged in. It returns the relay, the API port and the certificate.
func apiTLSRelay(t *testing.T, e *env, overrides map[string]any) (*relay, int, string) {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile := testcert.WriteNew(t, dir, "localhost", "localhost", "127.0.0.1")
	port, over := apiOverrides(t)
	merge(over, map[string]any{"api": map[string]any{"tls": map[string]any{"cert_file": certFile, "key_file": keyFile}}})
	merge(over, overrides)
	return e.newRelay(over).start(), port, certFile
}

func TestQuickstart_AppsSendOverHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mx := e.mx("dest.example", 10, smtptest.Options{})
	r, port, cert := apiTLSRelay(t, e, nil)
	tests := []struct {
		name, file string
		// cmd runs the example's source src with token; the output
		// holds the queue ID.
		cmd func(t *testing.T, dir, src, token string) *exec.Cmd
	}{
		{"curl", "api-send.sh", func(t *testing.T, dir, src, token string) *exec.Cmd {
			need(t, "curl")
			cmd := exec.Command("sh", "-e")
			cmd.Stdin = strings.NewReader(src)
			cmd.Env = append(os.Environ(), "CURL_CA_BUNDLE="+cert, "MXOUT_TOKEN="+token)
			return cmd
		}},
		{"python", "api_send.py", func(t *testing.T, dir, src, token string) *exec.Cmd {
			needPythonRequests(t)
			cmd := exec.Command("python3", "-")
			cmd.Stdin = strings.NewReader(src)
			cmd.Env = append(os.Environ(), "REQUESTS_CA_BUNDLE="+cert, "MXOUT_TOKEN="+token)
			return cmd
		}},
		{"node", "api-send.mjs", func(t *testing.T, dir, src, token string) *exec.Cmd {
			need(t, "node")
			path := filepath.Join(dir, "api-send.mjs")
			writeFile(t, path, []byte(src))
			cmd := exec.Command("node", path)
			cmd.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS="+cert, "MXOUT_TOKEN="+token)
			return cmd
		}},
	}
	queueID := regexp.MustCompile(`"id":"([^"]+)"|queued: (\S+)`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			// The examples share one Idempotency-Key: each runs under its own.
			src := strings.ReplaceAll(apiExample(t, tt.file, port, 0), "receipt-4711", "receipt-4711-"+tt.name)
			run := func(token string) (string, error) {
				cmd := tt.cmd(t, dir, src, token)
				cmd.Dir = dir
				out, err := cmd.CombinedOutput()
				return string(out), err
			}
			before := mx.MessageCount()
			out, err := run(appToken)
			if err != nil {
				t.Fatalf("%v\n%s\nrelay log:\n%s", err, out, r.logs())
			}
			first := queueID.FindStringSubmatch(out)
			if first == nil {
				t.Fatalf("no queue ID in the output:\n%s", out)
			}
			// Run again, as after a time-out: the same answer, nothing queued.
			again, err := run(appToken)
			if err != nil || queueID.FindString(again) != first[0] {
				t.Errorf("the repeat printed %q (%v), want the first answer %q", again, err, first[0])
			}
			testwait.For(t, 15*time.Second, "the message at the MX; relay log:\n"+r.logs(), func() bool { return mx.MessageCount() > before })
			got := mx.Messages()[before]
			data := string(got.Data)
			if got.From != "app@sender.example" || strings.Join(got.To, ",") != "customer@dest.example" ||
				!strings.Contains(data, "Subject: Your receipt") || !strings.Contains(data, "multipart/alternative") ||
				!strings.Contains(data, "<p>Thank you for your <b>order</b>.</p>") {
				t.Errorf("MX got %s -> %v:\n%s", got.From, got.To, data)
			}
			// A refusal: the example exits non-zero and says why.
			out, err = run("mxo_not-a-key")
			if err == nil || !strings.Contains(out, "401") {
				t.Errorf("with an unknown token: %v\n%s", err, out)
			}
		})
	}
	if n := mx.MessageCount(); n > len(tests) {
		t.Errorf("%d messages at the MX for %d examples run twice each", n, len(tests))
	}

	// The feed example: the delivered events of what the examples sent,
	// then, after the answer's next, none.
	need(t, "curl")
	feed := func(cursor string) string {
		cmd := exec.Command("sh", "-e")
		cmd.Stdin = strings.NewReader(apiExample(t, "api-events.sh", port, 0))
		cmd.Env = append(os.Environ(), "CURL_CA_BUNDLE="+cert, "MXOUT_TOKEN="+appToken, "CURSOR="+cursor)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("api-events.sh: %v\n%s", err, out)
		}
		return string(out)
	}
	var page struct {
		Events []wireEvent `json:"events"`
		Next   string      `json:"next"`
	}
	testwait.For(t, 15*time.Second, "a delivered event for each message at the MX", func() bool {
		if err := json.Unmarshal([]byte(feed("")), &page); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, ev := range page.Events {
			if ev.Type == "delivered" && ev.Recipient == "customer@dest.example" && ev.Metadata["order"] == "4711" {
				n++
			}
		}
		return n == mx.MessageCount()
	})
	if out := feed(page.Next); !strings.Contains(out, `"events":[]`) {
		t.Errorf("the feed after %q: %s, want no events", page.Next, out)
	}
}

// The operator's config of the quick start passes `mxout config check`,
// its certificate read as serve reads it.
func TestQuickstart_APIConfigChecks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile := writeSelfSignedCert(t, dir)
	b, err := os.ReadFile(examples + "mxout-api.yaml")
	if err != nil {
		t.Fatal(err)
	}
	conf := strings.NewReplacer("/etc/mxout/tls/fullchain.pem", certFile, "/etc/mxout/tls/privkey.pem", keyFile,
		"0.0.0.0:8443", fmt.Sprintf("127.0.0.1:%d", freePort(t))).Replace(string(b))
	conf += "data_dir: " + filepath.Join(dir, "data") + "\n"
	writeFile(t, filepath.Join(dir, "api.yaml"), []byte(conf))
	cmd := exec.Command(binary(t), "config", "check", "--config", filepath.Join(dir, "api.yaml"))
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("config check: %v\n%s", err, out)
	}
}

// receiverProcess is a webhook receiver example running as a process.
type receiverProcess struct {
	name string
	port int
	mu   sync.Mutex
	out  bytes.Buffer
}

func (p *receiverProcess) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *receiverProcess) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// startReceiver runs the example file with interpreter on a free port and
// waits until it listens.
func startReceiver(t *testing.T, interpreter, file, secret string) *receiverProcess {
	t.Helper()
	p := &receiverProcess{name: file, port: freePort(t)}
	dir := t.TempDir()
	path := filepath.Join(dir, file)
	writeFile(t, path, []byte(apiExample(t, file, 0, p.port)))
	cmd := exec.Command(interpreter, path)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "MXOUT_WEBHOOK_SECRET="+secret, "PYTHONUNBUFFERED=1")
	cmd.Stdout, cmd.Stderr = p, p
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	testwait.For(t, 30*time.Second, file+" listening", func() bool {
		select {
		case <-exited:
			t.Fatalf("%s exited:\n%s", file, p.output())
		default:
		}
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", p.port))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return p
}

// postSigned posts body to the receiver with an Mxout-Signature made at
// time ts with secret, and returns the status.
func (p *receiverProcess) postSigned(t *testing.T, secret string, ts time.Time, body string) int {
	t.Helper()
	stamp := strconv.FormatInt(ts.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(stamp + "." + body))
	req, err := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/", p.port), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Mxout-Signature", "t="+stamp+",v1="+hex.EncodeToString(m.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v\n%s", p.name, err, p.output())
	}
	resp.Body.Close()
	return resp.StatusCode
}

// The webhook receivers of the quick start accept the relay's signed
// batches and print each event once; they refuse a batch signed with
// another secret, or signed too long ago.
func TestQuickstart_WebhookReceiversVerifySignatures(t *testing.T) {
	t.Parallel()
	const secret = "a-long-random-webhook-secret-from-the-config"
	var receivers []*receiverProcess
	if _, err := exec.LookPath("python3"); err == nil {
		receivers = append(receivers, startReceiver(t, "python3", "webhook_receiver.py", secret))
	} else {
		t.Log("python3 is not installed; the Python webhook receiver is not run")
	}
	if _, err := exec.LookPath("node"); err == nil {
		receivers = append(receivers, startReceiver(t, "node", "webhook-receiver.js", secret))
	} else {
		t.Log("node is not installed; the Node.js webhook receiver is not run")
	}
	if len(receivers) == 0 {
		t.Skip("neither python3 nor node is installed")
	}

	e := newEnv(t)
	mx := e.mx("dest.example", 10, smtptest.Options{})
	mx.SetRcpt("gone@dest.example", &smtptest.Reply{Code: 550, Enhanced: [3]int{5, 1, 1}, Message: "no such user"})
	var endpoints []any
	for _, p := range receivers {
		endpoints = append(endpoints, map[string]any{"url": fmt.Sprintf("http://127.0.0.1:%d/", p.port), "secret": secret})
	}
	r, port, cert := apiTLSRelay(t, e, map[string]any{"webhooks": map[string]any{
		"endpoints": endpoints, "retry": map[string]any{"initial": "100ms", "max_interval": "500ms"}}})
	pem, err := os.ReadFile(cert)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("https://localhost:%d/v1/send", port),
		strings.NewReader(`{"from":"app@sender.example","to":["customer@dest.example","gone@dest.example"],"text":"hi"}`))
	req.Header.Set("Authorization", "Bearer "+appToken)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("send: %s", resp.Status)
	}
	for _, p := range receivers {
		testwait.For(t, 30*time.Second, p.name+" printing both events; relay log:\n"+r.logs(), func() bool {
			out := p.output()
			return strings.Contains(out, "delivered customer@dest.example 2.0.0 250 ") &&
				strings.Contains(out, "bounced gone@dest.example 5.1.1 550 ")
		})
	}

	// Signed with another secret, or five minutes and more ago: 401, and
	// nothing printed.
	forged := `{"events":[{"id":"forged-1","type":"delivered","recipient":"forged@dest.example","dsn":"2.0.0","reply":"250 ok"}]}`
	for _, p := range receivers {
		for _, tt := range []struct {
			name   string
			secret string
			at     time.Time
		}{
			{"another secret", "not-the-secret", time.Now()},
			{"an hour ago", secret, time.Now().Add(-time.Hour)},
		} {
			if got := p.postSigned(t, tt.secret, tt.at, forged); got != http.StatusUnauthorized {
				t.Errorf("%s: a batch signed with %s: %d, want 401", p.name, tt.name, got)
			}
		}
		// The same batch signed well is printed, once however often it comes.
		for i := 0; i < 2; i++ {
			if got := p.postSigned(t, secret, time.Now(), forged); got/100 != 2 {
				t.Errorf("%s: a well-signed batch: %d, want 2xx", p.name, got)
			}
		}
		if n := strings.Count(p.output(), "forged@dest.example"); n != 1 {
			t.Errorf("%s printed the signed event %d times, want once:\n%s", p.name, n, p.output())
		}
	}
	if n := mx.MessageCount(); n != 1 {
		t.Errorf("%d messages at the MX, want 1", n)
	}
}
