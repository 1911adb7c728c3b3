package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// machine describes where the numbers were taken.
type machine struct {
	CPU        string `json:"cpu"`
	Cores      int    `json:"cores"`
	MemoryMiB  int64  `json:"memory_mib"`
	Kernel     string `json:"kernel"`
	Filesystem string `json:"filesystem"`
	Go         string `json:"go"`
	Mxout      string `json:"mxout"`
	Postfix    string `json:"postfix"`
}

func describeMachine(dir, mxoutBin string, relays []relay) machine {
	m := machine{Cores: runtime.NumCPU(), Go: runtime.Version(), Mxout: "-", Postfix: "-"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				m.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if kb, err := readKB("/proc/meminfo", "MemTotal"); err == nil {
		m.MemoryMiB = kb[0] >> 20
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.Filesystem = filesystem(dir)
	m.CPU = fmt.Sprintf("%s, %d cores, %d MiB, Linux %s", m.CPU, m.Cores, m.MemoryMiB, m.Kernel)
	for _, rl := range relays {
		switch rl.(type) {
		case *mxoutRelay:
			if out, err := exec.Command(mxoutBin, "version").Output(); err == nil {
				m.Mxout = strings.TrimSpace(string(out))
			}
		case *postfixRelay:
			if out, err := exec.Command("postconf", "-h", "-d", "mail_version").Output(); err == nil {
				m.Postfix = strings.TrimSpace(string(out))
			}
		}
	}
	return m
}

// filesystem names the file system type under dir, and warns when it is
// memory: the point is to pay for real disk syncs.
func filesystem(dir string) string {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return "unknown"
	}
	switch st.Type {
	case unix.EXT4_SUPER_MAGIC:
		return "ext4"
	case unix.XFS_SUPER_MAGIC:
		return "xfs"
	case unix.BTRFS_SUPER_MAGIC:
		return "btrfs"
	case unix.TMPFS_MAGIC:
		fmt.Fprintln(os.Stderr, "mxout-bench: warning:", dir, "is tmpfs: syncs cost nothing there; use --dir on a real disk")
		return "tmpfs"
	}
	return fmt.Sprintf("fs type %#x", st.Type)
}
