package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mxout/mxout/delivery/smtptest"
)

// TestServe_SyncsBeforeThe250 is design.md's durability trap, checked from
// outside as an operator would: strace follows the running relay while a
// client sends one message, and a sync system call (msync of badger's
// write-ahead log, or an fsync) must start after the relay read the final
// dot and end before it wrote "250 2.0.0 Ok: queued as". Without a sync in
// that window a 250 would survive a process kill but not a power cut.
func TestServe_SyncsBeforeThe250(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("strace"); err != nil {
		t.Skip("strace is not installed (.ci/run installs it)")
	}
	e := newEnv(t)
	mx := e.mx("sync.example", 10, smtptest.Options{})
	r := e.newRelay(nil).start()

	tracePath := filepath.Join(r.dir, "strace.txt")
	stopTrace := attachStrace(t, r.cmd.Process.Pid, tracePath)
	reply, err := r.send("app@sender.example", []string{"a@sync.example"}, message("synced"))
	stopTrace()
	if err != nil {
		t.Fatal(err)
	}
	if !queuedAs.MatchString(reply) {
		t.Fatalf("DATA reply %q, want 2.0.0 Ok: queued as <id>", reply)
	}
	trace, err := os.ReadFile(tracePath)
	if err != nil {
		t.Fatal(err)
	}
	found, err := syncedBeforeReply(string(trace))
	if err != nil {
		t.Fatalf("%v\n(trace in %s; kept below)\n%s", err, tracePath, tail(string(trace), 60))
	}
	t.Logf("between the final dot and the 250: %s", found)
	mx.WaitMessages(t, 1, 15*time.Second)
}

// attachStrace follows every thread of pid with strace, writing the calls
// that read and write sockets and that sync files to path, and returns
// once strace reports the process attached (all its threads at once). The returned func detaches strace.
func attachStrace(t *testing.T, pid int, path string) (stop func()) {
	t.Helper()
	cmd := exec.Command("strace", "-f", "-s", "1024", "-o", path, "-p", fmt.Sprint(pid),
		"-e", "trace=read,recvfrom,write,sendto,writev,fsync,fdatasync,msync,sync_file_range,syncfs")
	var stderr bytes.Buffer
	var mu sync.Mutex
	cmd.Stderr = lockedWriter{&stderr, &mu}
	if err := cmd.Start(); err != nil {
		t.Fatalf("strace: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cmd.Process.Signal(syscall.SIGINT) // detach; the relay runs on
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-exited
			}
		})
	}
	t.Cleanup(stop)
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		out := stderr.String()
		mu.Unlock()
		if strings.Contains(out, " attached") { // "Process N attached with K threads"
			return stop
		}
		select {
		case err := <-exited:
			exited <- err
			t.Skipf("strace cannot follow the relay here (ptrace not permitted?): %v: %s", err, out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("strace did not attach within 10s: %s", out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var (
	// syncCall matches the start of a sync call in strace -f output
	// ("123 msync(0x7f…, …) = 0" or "123 msync(0x7f… <unfinished ...>").
	syncCall = regexp.MustCompile(`^(\d+)\s+(?:fsync|fdatasync|msync|sync_file_range|syncfs)\(`)
	// syncResumed matches the end of a sync call that another thread's
	// calls interrupted in the output.
	syncResumed = regexp.MustCompile(`^(\d+)\s+<\.\.\. (?:fsync|fdatasync|msync|sync_file_range|syncfs) resumed>.*= 0$`)
	// socketRead matches a read, whole or resumed, with the data as strace
	// escapes it.
	socketRead     = regexp.MustCompile(`^\d+\s+(?:(?:read|recvfrom)\(\d+, |<\.\.\. (?:read|recvfrom) resumed>)"(.*)"`)
	socketWrite250 = regexp.MustCompile(`^\d+\s+(?:write|sendto|writev)\(\d+, .*250 2\.0\.0 Ok: queued as`)
)

// syncedBeforeReply checks an strace -f output: some sync call started
// after the last read of the end-of-data line (".\r\n") that precedes the
// first "250 2.0.0 Ok: queued as" written, and succeeded before that write.
// It returns the line that ends that sync.
func syncedBeforeReply(trace string) (string, error) {
	lines := strings.Split(trace, "\n")
	reply := -1
	for i, l := range lines {
		if socketWrite250.MatchString(l) {
			reply = i
			break
		}
	}
	if reply < 0 {
		return "", fmt.Errorf("no write of \"250 2.0.0 Ok: queued as\" in the trace")
	}
	dot := -1
	for i := reply - 1; i >= 0; i-- {
		if m := socketRead.FindStringSubmatch(lines[i]); m != nil && strings.HasSuffix(m[1], `.\r\n`) {
			dot = i
			break
		}
	}
	if dot < 0 {
		return "", fmt.Errorf("no read of the end-of-data line before the 250 in the trace")
	}
	started := map[string]bool{} // threads inside a sync call that began after the dot
	for _, l := range lines[dot+1 : reply] {
		l = strings.TrimSpace(l)
		if m := syncCall.FindStringSubmatch(l); m != nil {
			if strings.HasSuffix(l, "= 0") {
				return l, nil
			}
			if strings.HasSuffix(l, "<unfinished ...>") {
				started[m[1]] = true
			}
			continue
		}
		if m := syncResumed.FindStringSubmatch(l); m != nil && started[m[1]] {
			return l, nil
		}
	}
	return "", fmt.Errorf("no sync call started after the final dot (trace line %d) and ended before the 250 (line %d)", dot+1, reply+1)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestSyncedBeforeReply_Checker shows that the check above can fail: it
// tells a sync inside the window from one before the final dot, one that
// ended only after the 250, and one that failed.
func TestSyncedBeforeReply_Checker(t *testing.T) {
	t.Parallel()
	const (
		dot   = `7 read(9, "Hello.\r\n.\r\n", 4096) = 11`
		reply = `8 write(9, "250 2.0.0 Ok: queued as 0123456789abcdefghij\r\n", 46) = 46`
	)
	tests := []struct {
		name  string
		trace []string
		ok    bool
	}{
		{"sync in the window", []string{dot, `5 msync(0x7f00, 4096, MS_SYNC) = 0`, reply}, true},
		{"interrupted sync in the window", []string{dot, `5 msync(0x7f00, 4096, MS_SYNC <unfinished ...>`, `8 read(3, "x", 1) = 1`, `5 <... msync resumed>) = 0`, reply}, true},
		{"fdatasync in the window", []string{`7 read(9, ".\r\n", 4096) = 3`, `6 fdatasync(12) = 0`, reply}, true},
		{"resumed read of the dot", []string{`7 read(9, <unfinished ...>`, `7 <... read resumed>"x\r\n.\r\n", 4096) = 5`, `5 msync(0x7f00, 4096, MS_SYNC) = 0`, reply}, true},
		{"no sync", []string{dot, `8 write(4, "log line", 8) = 8`, reply}, false},
		{"sync before the dot only", []string{`5 msync(0x7f00, 4096, MS_SYNC) = 0`, dot, reply}, false},
		{"sync started before the dot", []string{`5 msync(0x7f00, 4096, MS_SYNC <unfinished ...>`, dot, `5 <... msync resumed>) = 0`, reply}, false},
		{"sync ends after the 250", []string{dot, `5 msync(0x7f00, 4096, MS_SYNC <unfinished ...>`, reply, `5 <... msync resumed>) = 0`}, false},
		{"failed sync", []string{dot, `5 fsync(12) = -1 EIO (Input/output error)`, reply}, false},
		{"no 250", []string{dot, `5 msync(0x7f00, 4096, MS_SYNC) = 0`}, false},
	}
	for _, tt := range tests {
		_, err := syncedBeforeReply(strings.Join(tt.trace, "\n"))
		if (err == nil) != tt.ok {
			t.Errorf("%s: err = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}
