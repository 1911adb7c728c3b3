package e2e

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/internal/testfs"
	"github.com/mxout/mxout/internal/testwait"
	"golang.org/x/sys/unix"
)

func freeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * int64(st.Bsize)
}

// TestServe_DiskFull runs the relay with its data directory on a small
// tmpfs and fills the disk with a ballast file: new mail gets 452 4.3.1,
// /readyz says not ready, the relay stays up and starts no delivery (each
// lease would write to the full disk) until the ballast goes; then it
// delivers what it holds, is ready and takes mail again.
func TestServe_DiskFull(t *testing.T) {
	t.Parallel()
	const reserve = 24 << 20
	mnt := testfs.MountTmpfs(t, "96m", "run the e2e suite as root to include the disk-full test of the binary")
	e := newEnv(t)
	mx := e.mx("full.example", 10, smtptest.Options{})
	mx.Down()
	r := e.newRelay(map[string]any{
		"data_dir":   filepath.Join(mnt, "data"),
		"submission": map[string]any{"max_message_bytes": "1MiB"},
		// The destination comes back within the test: probe it again soon.
		"delivery": map[string]any{"dead_destination": map[string]any{"hold": "200ms"}},
		"queue": map[string]any{
			"min_free_bytes": reserve,
			"badger": map[string]any{
				"memtable_bytes": "2MiB", "num_memtables": 2, "block_cache_bytes": "1MiB",
				"index_cache_bytes": "1MiB", "value_log_file_bytes": "4MiB", "value_threshold": "1KiB",
			},
		},
	}).start()

	var held []string
	for i := 0; i < 5; i++ {
		marker := "before-full-" + string(rune('a'+i))
		if _, err := r.send("app@sender.example", []string{"u@full.example"}, message(marker)); err != nil {
			t.Fatal(err)
		}
		held = append(held, marker)
	}
	if code := r.readyz(t); code != 200 {
		t.Fatalf("/readyz = %d before the disk filled", code)
	}

	// Leave less than the reserve: badger itself still has room to work
	// (the reserve), but no new message may be taken.
	ballast := filepath.Join(mnt, "ballast")
	if err := os.WriteFile(ballast, make([]byte, freeBytes(t, mnt)-reserve+(64<<10)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := r.send("app@sender.example", []string{"u@full.example"}, message("while-full"))
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 452 || se.EnhancedCode != (smtp.EnhancedCode{4, 3, 1}) {
		t.Errorf("new mail on a full disk: %v, want 452 4.3.1", err)
	}
	if code := r.readyz(t); code != 503 {
		t.Errorf("/readyz = %d on a full disk, want 503", code)
	}

	// Delivery waits while the disk is below the reserve: the engine's
	// leases are refused, and it tries again with a growing wait.
	testwait.For(t, 15*time.Second, "a lease refused for the disk reserve", func() bool {
		return strings.Contains(r.logs(), "lease failed") && strings.Contains(r.logs(), "not enough free disk space")
	})
	testwait.For(t, 15*time.Second, "the deliveries in flight to end", func() bool {
		return r.metric(t, `mxout_queue_messages{state="inflight"}`) == 0
	})
	mx.Up()
	retries := strings.Count(r.logs(), "lease failed again")
	testwait.For(t, 15*time.Second, "two more refused leases", func() bool {
		return strings.Count(r.logs(), "lease failed again") >= retries+2
	})
	if got := mx.Messages(); len(got) != 0 {
		t.Errorf("%d messages delivered below the disk reserve", len(got))
	}
	if r.cmd.ProcessState != nil {
		t.Fatalf("the relay died on a full disk:\n%s", r.logs())
	}

	os.Remove(ballast)
	testwait.For(t, 30*time.Second, "the queued messages to be delivered once space returned", func() bool {
		return len(missing(mx, held)) == 0
	})
	testwait.For(t, 10*time.Second, "/readyz to recover", func() bool { return r.readyz(t) == 200 })
	if _, err := r.send("app@sender.example", []string{"u@full.example"}, message("after-full")); err != nil {
		t.Fatalf("new mail after space returned: %v", err)
	}
	testwait.For(t, 15*time.Second, "the message taken after recovery to arrive", func() bool {
		return len(missing(mx, []string{"after-full"})) == 0
	})
	if len(missing(mx, []string{"while-full"})) == 0 {
		t.Error("a message refused with 452 was delivered")
	}
	if err := r.stop(); err != nil {
		t.Errorf("clean stop: %v", err)
	}
}
