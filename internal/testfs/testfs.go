// Package testfs gives tests real file systems with real limits: a small
// tmpfs fills up as a disk does, which is how the disk-full tests prove
// that badger never meets ENOSPC (or SIGBUS) itself.
package testfs

import (
	"bytes"
	"os/exec"
	"testing"
)

// MountTmpfs mounts a tmpfs of size (as mount's size= option: "64m") on a
// fresh directory, unmounted when the test ends, and returns it. Where
// mounting is not allowed (not root, a container without the right) the
// test is skipped, with otherwise saying what still covers the case.
func MountTmpfs(t testing.TB, size, otherwise string) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s); %s", err, bytes.TrimSpace(out), otherwise)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Logf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}
