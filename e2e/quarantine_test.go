package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/mxout/mxout/internal/testwait"
)

// corruptRecord overwrites a message's record in a stopped relay's queue,
// straight in badger, as a damaged disk or a bug would leave it.
func corruptRecord(t *testing.T, dir, id string) {
	t.Helper()
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil).WithValueLogFileSize(64 << 20))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(txn *badger.Txn) error {
		return txn.Set([]byte("m"+id), []byte(`{"id":"`+id+`","recipients":[{"addr":`))
	}); err != nil {
		t.Fatal(err)
	}
}

// TestServe_QuarantinesAPoisonRecord: one message record that no longer
// decodes is moved aside (listed as quarantined, logged once, counted)
// while the other mail is delivered; the operator deletes it.
func TestServe_QuarantinesAPoisonRecord(t *testing.T) {
	t.Parallel()
	r, mx, _, ids := waitingRelay(t, "poison.example", "poison-0", "poison-1", "poison-2")
	testwait.For(t, 15*time.Second, "three deferred messages", func() bool {
		out, _, _ := r.cli(nil, "list", "--state", "deferred")
		return len(queueIDs(out)) == 3
	})
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	bad := ids[1]
	corruptRecord(t, r.dataDir(), bad)

	mx.Up()
	r.start()
	testwait.For(t, 20*time.Second, "the two good messages to be delivered", func() bool {
		return len(missing(mx, []string{"poison-0", "poison-2"})) == 0
	})
	testwait.For(t, 10*time.Second, "the poison record in the quarantine", func() bool {
		out, _, _ := r.cli(nil, "list", "--state", "quarantined", "-q")
		return strings.TrimSpace(out) == bad
	})
	if v := r.metric(t, "mxout_queue_quarantined_total"); v != 1 {
		t.Errorf("mxout_queue_quarantined_total = %v, want 1", v)
	}
	logs := r.logs()
	if n := strings.Count(logs, "quarantined an unreadable message record"); n != 1 {
		t.Errorf("%d log lines about the quarantine, want 1:\n%s", n, logs)
	}
	if strings.Contains(logs, "lease failed") {
		t.Errorf("a lease failed over the poison record:\n%s", logs)
	}
	out, _, err := r.cli(nil, "list", "--state", "quarantined")
	if err != nil || !strings.Contains(out, bad+"  quarantined") || !strings.Contains(out, "unreadable message record") {
		t.Errorf("list --state quarantined: %v\n%s", err, out)
	}
	if out, _, err := r.cli(nil, "show", bad); err != nil || !strings.Contains(out, "quarantined:") {
		t.Errorf("show of the quarantined message: %v\n%s", err, out)
	}
	if len(missing(mx, []string{"poison-1"})) == 0 {
		t.Error("the message whose record was corrupt was delivered")
	}

	if out, _, err := r.steer("delete", bad); err != nil || !strings.Contains(out, "deleted") {
		t.Fatalf("delete of the quarantined message: %v %q", err, out)
	}
	if out, _, _ := r.cli(nil, "list", "--state", "quarantined", "-q"); strings.TrimSpace(out) != "" {
		t.Errorf("still quarantined after delete: %q", out)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if c := verifyQueue(t, r.dataDir()); c.Messages != 0 || c.Quarantined != 0 || c.Bodies != 0 {
		t.Errorf("left on disk: %+v", c)
	}
}
