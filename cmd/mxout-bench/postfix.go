package main

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// postfixRelay is a private Postfix instance set up and started by
// scripts/postfix-bench.sh: its own config and queue directories under the
// run's directory, SMTP on a loopback port, a transport map that sends
// each bench domain to its sink. Postfix's processes are the master and
// the daemons it forks; their CPU and memory are added up.
type postfixRelay struct {
	script string
	// log is where Postfix logs: "file" (maillog_file, written by its
	// postlogd) or "syslog" (its default: /dev/log, to whatever syslog
	// daemon the machine has, outside Postfix's processes).
	log    string
	dir    string
	port   int
	master int
}

func (p *postfixRelay) Name() string { return "postfix" }

func (p *postfixRelay) Addr() string { return fmt.Sprintf("127.0.0.1:%d", p.port) }

func (p *postfixRelay) Start(dst destinations, dir string) error {
	p.dir = filepath.Join(dir, "postfix")
	var err error
	if p.port, err = freePort(); err != nil {
		return err
	}
	// Postfix's SMTP client does not take a DNS server on a custom port,
	// so the transport map names each sink's address; mxout looks the
	// same hosts up as MX records.
	var tr strings.Builder
	for i, d := range dst.Domains {
		fmt.Fprintf(&tr, "%s smtp:[%s]:%d\n", d, dst.Hosts[i], dst.Port)
	}
	transport := filepath.Join(dir, "transport")
	if err := os.WriteFile(transport, []byte(tr.String()), 0o644); err != nil {
		return err
	}
	if out, err := exec.Command(p.script, "start", p.dir, strconv.Itoa(p.port), transport, p.log).CombinedOutput(); err != nil {
		return fmt.Errorf("%s start: %w\n%s", p.script, err, out)
	}
	b, err := os.ReadFile(filepath.Join(p.dir, "spool", "pid", "master.pid"))
	if err != nil {
		return err
	}
	if p.master, err = strconv.Atoi(strings.TrimSpace(string(b))); err != nil {
		return fmt.Errorf("master.pid: %w", err)
	}
	return waitListening(p.Addr(), nil, filepath.Join(p.dir, "maillog"))
}

func (p *postfixRelay) Usage() (usage, error) { return treeUsage(p.master) }

// Deferred counts the queue files in the deferred queue.
func (p *postfixRelay) Deferred() (int, error) {
	n := 0
	err := filepath.WalkDir(filepath.Join(p.dir, "spool", "deferred"), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	})
	return n, err
}

func (p *postfixRelay) Flush() error {
	if out, err := exec.Command(p.script, "flush", p.dir).CombinedOutput(); err != nil {
		return fmt.Errorf("%s flush: %w\n%s", p.script, err, out)
	}
	return nil
}

func (p *postfixRelay) Stop() error {
	if out, err := exec.Command(p.script, "stop", p.dir).CombinedOutput(); err != nil {
		return fmt.Errorf("%s stop: %w\n%s", p.script, err, out)
	}
	return nil
}
