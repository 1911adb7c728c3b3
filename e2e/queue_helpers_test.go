package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/mxout/mxout/admin"
	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/internal/testwait"
	"github.com/mxout/mxout/queue"
)

// adminOverrides turns the admin API on at a free loopback port.
func adminOverrides(t *testing.T) (string, map[string]any) {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	return addr, map[string]any{"admin": map[string]any{"listen": addr}}
}

// cli runs `mxout queue ARGS --config <the relay's config>`.
func (r *relay) cli(env []string, args ...string) (stdout, stderr string, err error) {
	r.t.Helper()
	cmd := exec.Command(binary(r.t), append(append([]string{"queue"}, args...), "--config", r.configPath)...)
	cmd.Dir = r.dir
	cmd.Env = append(cmd.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// steer runs a queue command that changes a message, trying again while
// the message is being delivered (the API answers 409 then).
func (r *relay) steer(args ...string) (stdout, stderr string, err error) {
	r.t.Helper()
	for try := 0; ; try++ {
		stdout, stderr, err = r.cli(nil, args...)
		if err == nil || !strings.Contains(stderr, "being delivered") || try == 20 {
			return stdout, stderr, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dataDir is the relay's queue directory.
func (r *relay) dataDir() string { return filepath.Join(r.dir, "data") }

// readyz returns the status code of the relay's /readyz.
func (r *relay) readyz(t *testing.T) int {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", r.metricsPort))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// verifyQueue opens a stopped relay's queue read-only and checks that no
// message is half-written; it returns what is on disk.
func verifyQueue(t *testing.T, dir string) queue.Consistency {
	t.Helper()
	q, err := queue.OpenReadOnly(queue.Options{
		Dir: dir, MemtableBytes: 16 << 20, NumMemtables: 2, BlockCacheBytes: 16 << 20, IndexCacheBytes: 16 << 20,
		ValueLogFileBytes: 64 << 20, ValueThreshold: 4 << 10,
	})
	if err != nil {
		t.Fatalf("open the stopped relay's queue: %v", err)
	}
	defer q.Close()
	c, err := q.Verify()
	if err != nil {
		t.Fatal(err)
	}
	if !c.OK() {
		t.Errorf("queue on disk is inconsistent:\n%s", strings.Join(c.Problems, "\n"))
	}
	return c
}

// waitEmpty waits until the admin API reports an empty queue.
func waitEmpty(t *testing.T, c *admin.Client, timeout time.Duration) {
	t.Helper()
	var last admin.Stats
	var err error
	if !testwait.Until(timeout, func() bool {
		last, err = c.Stats(t.Context())
		return err == nil && last.Total == 0 && last.Bytes == 0
	}) {
		t.Fatalf("queue not empty after %v: %+v (%v)", timeout, last, err)
	}
}

// outcome is what a client learnt about one submission.
type outcome int

const (
	// notSent: the client failed before sending the final dot, so the
	// relay cannot have stored the message.
	notSent outcome = iota
	// refused: the relay answered the final dot with an error.
	refused
	// inDoubt: the final dot may have been sent but no reply came (the
	// relay was killed): the message may or may not be queued.
	inDoubt
	// accepted: the relay answered 250.
	accepted
)

// submit sends one message and classifies what the client can know.
func (r *relay) submit(from string, to []string, body string) (outcome, string) {
	c, err := smtp.Dial(fmt.Sprintf("127.0.0.1:%d", r.port))
	if err != nil {
		return notSent, ""
	}
	defer c.Close()
	if c.Hello("client.e2e.invalid") != nil || c.Mail(from, nil) != nil {
		return notSent, ""
	}
	for _, a := range to {
		if c.Rcpt(a, nil) != nil {
			return notSent, ""
		}
	}
	w, err := c.Data()
	if err != nil {
		return notSent, ""
	}
	if _, err := w.Write([]byte(body)); err != nil {
		return notSent, "" // the dot is only written by Close
	}
	resp, err := w.CloseWithResponse()
	var se *smtp.SMTPError
	switch {
	case err == nil:
		c.Quit()
		return accepted, resp.StatusText
	case errors.As(err, &se):
		return refused, se.Error()
	default:
		return inDoubt, err.Error()
	}
}

// waitingRelay starts a relay with the admin API on a free port and
// queues one message per marker to domain, whose MX is down so that they
// wait; it returns the relay, the MX (Up delivers), the admin address and
// the queue IDs.
func waitingRelay(t *testing.T, domain string, markers ...string) (*relay, *smtptest.Server, string, []string) {
	t.Helper()
	e := newEnv(t)
	mx := e.mx(domain, 10, smtptest.Options{})
	mx.Down()
	addr, over := adminOverrides(t)
	r := e.newRelay(over).start()
	var ids []string
	for _, marker := range markers {
		reply, err := r.send("app@sender.example", []string{"u@" + domain}, message(marker))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, queuedAs.FindStringSubmatch(reply)[1])
	}
	return r, mx, addr, ids
}
