package e2e

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/internal/testwait"
)

var listLine = regexp.MustCompile(`(?m)^([0-9a-v]{20})  (\w+)`)

// queueIDs returns the IDs and states of a human `queue list`.
func queueIDs(out string) map[string]string {
	got := map[string]string{}
	for _, m := range listLine.FindAllStringSubmatch(out, -1) {
		got[m[1]] = m[2]
	}
	return got
}

func TestQueueCLI_InspectAndSteer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mx := e.mx("cli.example", 10, smtptest.Options{})
	other := e.mx("other.example", 10, smtptest.Options{})
	senderMX := e.mx("sender.example", 10, smtptest.Options{})
	mx.Down()
	other.Down()
	_, over := adminOverrides(t)
	// The destination comes back within the test: probe it again soon.
	over["delivery"] = map[string]any{"dead_destination": map[string]any{"hold": "200ms"}}
	r := e.newRelay(over).start()
	var ids []string
	for i, to := range []string{"a@cli.example", "b@cli.example", "c@other.example"} {
		reply, err := r.send("app@sender.example", []string{to}, message("cli-"+string(rune('0'+i))))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, queuedAs.FindStringSubmatch(reply)[1])
	}
	testwait.For(t, 10*time.Second, "three deferred messages", func() bool {
		out, _, _ := r.cli(nil, "list", "--state", "deferred")
		return len(queueIDs(out)) == 3
	})

	out, errOut, err := r.cli(nil, "list")
	if err != nil || !strings.Contains(out, "via the admin API") || !strings.Contains(out, "-- 3 messages") {
		t.Fatalf("queue list: %v\n%s%s", err, out, errOut)
	}
	out, _, err = r.cli(nil, "list", "--domain", "cli.example", "--json")
	var listed struct {
		Mode     string `json:"mode"`
		Messages []struct {
			ID    string `json:"id"`
			State string `json:"state"`
		} `json:"messages"`
	}
	if err != nil || json.Unmarshal([]byte(out), &listed) != nil || listed.Mode != "api" || len(listed.Messages) != 2 {
		t.Fatalf("queue list --domain --json: %v\n%s", err, out)
	}
	out, _, err = r.cli(nil, "show", ids[0])
	if err != nil || !strings.Contains(out, "a@cli.example") || !strings.Contains(out, "Subject: e2e cli-0") || !strings.Contains(out, "last reply:") {
		t.Errorf("queue show: %v\n%s", err, out)
	}

	// Hold: never delivered, counted as held, until released.
	if out, _, err := r.steer("hold", ids[0]); err != nil || strings.TrimSpace(out) != ids[0]+": held" {
		t.Fatalf("queue hold: %v %q", err, out)
	}
	if v := r.metric(t, `mxout_queue_messages{state="held"}`); v != 1 {
		t.Errorf(`mxout_queue_messages{state="held"} = %v, want 1`, v)
	}
	if out, _, _ := r.cli(nil, "list", "--state", "held", "-q"); strings.TrimSpace(out) != ids[0] {
		t.Errorf("list --state held -q = %q", out)
	}
	mx.Up()
	if _, _, err := r.cli(nil, "flush"); err != nil {
		t.Fatal(err)
	}
	mx.WaitMessages(t, 1, 15*time.Second) // b@ is delivered now ...
	time.Sleep(time.Second)
	if missing(mx, []string{"cli-0"}) == nil {
		t.Fatal("a held message was delivered") // ... but not the held a@
	}

	// Retry while held (once released, delivery may hold it and answer 409).
	if out, _, err := r.steer("retry", ids[0]); err != nil || !strings.Contains(out, "retried") {
		t.Errorf("retry: %v %q", err, out)
	}
	if out, _, err := r.steer("release", ids[0]); err != nil || !strings.Contains(out, "released") {
		t.Fatalf("release: %v %q", err, out)
	}
	testwait.For(t, 15*time.Second, "the released message to be delivered", func() bool { return missing(mx, []string{"cli-0", "cli-1"}) == nil })
	if _, errOut, err := r.cli(nil, "show", ids[0]); err == nil || !strings.Contains(errOut, "not in the queue") {
		t.Errorf("show of a delivered message: %v %q", err, errOut)
	}
	// delete --bounce: gone from the queue, and the sender gets a failure report.
	if out, _, err := r.steer("delete", "--bounce", ids[2]); err != nil || !strings.Contains(out, "bounced") {
		t.Fatalf("delete --bounce: %v %q", err, out)
	}
	reports := senderMX.WaitMessages(t, 1, 15*time.Second)
	if rep := string(reports[0].Data); reports[0].From != "" || !strings.Contains(rep, "Final-Recipient: rfc822; c@other.example") ||
		!strings.Contains(rep, "Action: failed") || !strings.Contains(rep, "Status: 5.0.0") || !strings.Contains(rep, "deleted from the queue") {
		t.Errorf("report of the deleted message (from %q):\n%s", reports[0].From, rep)
	}
	// The report reached the sender's MX just before its delivery was
	// recorded: wait for the queue to be empty.
	var stats struct {
		Mode  string `json:"mode"`
		Stats struct {
			Total int `json:"total"`
		} `json:"stats"`
	}
	testwait.For(t, 10*time.Second, "stats --json to show an empty queue", func() bool {
		out, _, err := r.cli(nil, "stats", "--json")
		if err != nil || json.Unmarshal([]byte(out), &stats) != nil || stats.Mode != "api" {
			t.Fatalf("stats --json: %v\n%s", err, out)
		}
		return stats.Stats.Total == 0
	})
	if len(other.Messages()) != 0 {
		t.Error("a deleted message was delivered")
	}
	if n := senderMX.MessageCount(); n != 1 {
		t.Errorf("%d reports reached the sender, want only the one about the deleted message", n)
	}
}

func TestQueueCLI_ReadOnlyWhenStopped(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mx := e.mx("stopped.example", 10, smtptest.Options{})
	mx.Down()
	_, over := adminOverrides(t)
	r := e.newRelay(over).start()
	reply, err := r.send("app@sender.example", []string{"a@stopped.example"}, message("stopped"))
	if err != nil {
		t.Fatal(err)
	}
	id := queuedAs.FindStringSubmatch(reply)[1]
	if _, errOut, err := r.cli(nil, "list", "--direct"); err == nil || !strings.Contains(errOut, "works only while it is stopped") {
		t.Errorf("list --direct while running: %v %q", err, errOut)
	}

	// Killed: the write-ahead log needs a replay that only serve does.
	r.kill()
	if _, errOut, err := r.cli(nil, "list"); err == nil || !strings.Contains(errOut, "not shut down cleanly") {
		t.Errorf("list after a kill: %v %q", err, errOut)
	}
	r.start()
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}

	out, errOut, err := r.cli(nil, "list")
	if err != nil || !strings.Contains(out, "read-only from") || queueIDs(out)[id] == "" {
		t.Errorf("list while stopped: %v\n%s%s", err, out, errOut)
	}
	out, _, err = r.cli(nil, "show", id)
	if err != nil || !strings.Contains(out, "a@stopped.example") || !strings.Contains(out, "read-only from") {
		t.Errorf("show while stopped: %v\n%s", err, out)
	}
	out, _, err = r.cli(nil, "stats", "--json")
	if err != nil || !strings.Contains(out, `"mode": "read-only"`) || !strings.Contains(out, `"total": 1`) {
		t.Errorf("stats while stopped: %v\n%s", err, out)
	}
	if _, errOut, err := r.cli(nil, "hold", id); err == nil || !strings.Contains(errOut, "needs a running mxout serve") {
		t.Errorf("hold while stopped: %v %q", err, errOut)
	}
}

func TestQueueCLI_Token(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, over := adminOverrides(t)
	over["admin"].(map[string]any)["token"] = "s3cret-token"
	r := e.newRelay(over).start()
	if out, errOut, err := r.cli(nil, "stats"); err != nil || !strings.Contains(out, "via the admin API") {
		t.Errorf("stats with the configured token: %v\n%s%s", err, out, errOut)
	}
	_, errOut, err := r.cli([]string{"MXOUT_ADMIN_TOKEN=wrong"}, "stats")
	if err == nil || !strings.Contains(errOut, "bearer token") {
		t.Errorf("stats with a wrong token: %v %q", err, errOut)
	}
}
