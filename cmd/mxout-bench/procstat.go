package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTick is USER_HZ, the unit of the CPU times in /proc/<pid>/stat; it
// is 100 on every Linux platform Go supports.
const clockTick = 100

// procStat is what the benchmark reads from /proc/<pid>/stat.
type procStat struct {
	PPID int
	// CPU is user + system time of the process itself.
	CPU time.Duration
	// ChildCPU is user + system time of its children that have exited
	// and been waited for (cutime + cstime).
	ChildCPU time.Duration
}

// parseStat parses the contents of /proc/<pid>/stat. The command name (the
// second field) is in parentheses and may itself hold spaces and
// parentheses, so the fields are counted from the last ')'.
func parseStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("stat: no command name")
	}
	// After ") ": state(3) ppid(4) ... utime(14) stime(15) cutime(16) cstime(17).
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return procStat{}, fmt.Errorf("stat: %d fields after the command name, want at least 15", len(f))
	}
	var n [5]int64
	for k, idx := range []int{1, 11, 12, 13, 14} { // ppid, utime, stime, cutime, cstime
		// 36 bits of 10 ms ticks is 21 years of CPU: the sums of two below
		// stay far inside a time.Duration (292 years).
		v, err := strconv.ParseUint(f[idx], 10, 36)
		if err != nil {
			return procStat{}, fmt.Errorf("stat field %d: %w", idx+3, err)
		}
		n[k] = int64(v)
	}
	tick := time.Second / clockTick
	return procStat{
		PPID:     int(n[0]),
		CPU:      time.Duration(n[1]+n[2]) * tick,
		ChildCPU: time.Duration(n[3]+n[4]) * tick,
	}, nil
}

func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	return parseStat(b)
}

// readKB returns the named "Key:   123 kB" fields of a /proc status-like
// file, in bytes; a key that is missing reads as 0.
func readKB(path string, keys ...string) ([]int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := make([]int64, len(keys))
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		for i, k := range keys {
			rest, ok := strings.CutPrefix(line, k+":")
			if !ok {
				continue
			}
			v, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", path, k, err)
			}
			out[i] = v << 10
		}
	}
	return out, sc.Err()
}

// children lists the pids whose parent is ppid: from the kernel's list of
// the process's children where it keeps one (CONFIG_PROC_CHILDREN; ppid
// must be single-threaded, as Postfix's master is), else by reading the
// stat of every process.
func children(ppid int) []int {
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", ppid, ppid)); err == nil {
		return parsePids(string(b))
	}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var out []int
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		if st, err := readStat(pid); err == nil && st.PPID == ppid {
			out = append(out, pid)
		}
	}
	return out
}

// parsePids reads a space-separated list of process ids.
func parsePids(s string) []int {
	var out []int
	for _, f := range strings.Fields(s) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
			out = append(out, pid)
		}
	}
	return out
}

// usage is a relay's resource use at one moment.
type usage struct {
	// CPU is the CPU time its processes have used since they started.
	CPU time.Duration
	// Mem is its memory now: the resident set of a single process, or the
	// proportional set size (shared pages split between the sharers)
	// summed over several.
	Mem int64
	// Peak is the high-water mark of Mem as the kernel recorded it (VmHWM)
	// where there is one, else 0.
	Peak int64
	// Anon is the part of Mem that is not file pages: the heap and stacks.
	// The rest is files mapped into memory (badger maps its value log and
	// tables), page cache that the kernel can take back.
	Anon int64
}

// processUsage reads one process: CPU, VmRSS and VmHWM.
func processUsage(pid int) (usage, error) {
	st, err := readStat(pid)
	if err != nil {
		return usage{}, err
	}
	kb, err := readKB(fmt.Sprintf("/proc/%d/status", pid), "VmRSS", "VmHWM", "RssAnon")
	if err != nil {
		return usage{}, err
	}
	return usage{CPU: st.CPU, Mem: kb[0], Peak: kb[1], Anon: kb[2]}, nil
}

// treeUsage reads a parent that forks short-lived workers (Postfix's
// master): the CPU of the parent, of its exited children and of its live
// children, and the proportional set size of them all. A child's CPU moves
// from "live" to "exited" when it is reaped, so differences between two
// readings stay exact.
func treeUsage(pid int) (usage, error) {
	st, err := readStat(pid)
	if err != nil {
		return usage{}, err
	}
	u := usage{CPU: st.CPU + st.ChildCPU}
	for _, p := range append(children(pid), pid) {
		if p != pid {
			c, err := readStat(p)
			if err != nil {
				continue // exited since the scan
			}
			u.CPU += c.CPU
		}
		if kb, err := readKB(fmt.Sprintf("/proc/%d/smaps_rollup", p), "Pss", "Pss_Anon"); err == nil {
			u.Mem += kb[0]
			u.Anon += kb[1]
		}
	}
	return u, nil
}
