package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// smtpSourceHeader is about what smtp-source puts before its -l bytes of
// payload (From, To, Date, Message-Id and the empty line, with the
// benchmark's addresses), so that its messages have the workload's size.
const smtpSourceHeader = 160

// smtpSource is Postfix's smtp-source, as an independent load: one process
// per destination domain (smtp-source has one recipient address), sharing
// the workload's connections and messages between them, each connection
// kept for the next message (-d). smtp-source does not pipeline (its
// manual: "No SMTP command pipelining support"), so it waits for each
// reply. It prints a counter after each completed DATA; that times the
// first and last 250, not each message, so there is no accept latency.
type smtpSource struct{ bin string }

func (smtpSource) Name() string { return "smtp-source" }

func (smtpSource) Describe() string {
	return "Postfix's smtp-source (one process per domain, connections kept, no pipelining)"
}

func (s smtpSource) supports(wl workload) error {
	switch {
	case s.bin == "":
		return errors.New("smtp-source is not installed (Debian's postfix package has it)")
	case wl.Backlog:
		return errors.New("smtp-source does not run the backlog drain (the sinks must go down and up)")
	case wl.Recipients != 1:
		return errors.New("smtp-source sends every recipient of a message to one domain; the workload spreads them over several")
	}
	return nil
}

func (smtpSource) target(rl relay) (string, error) { return rl.Addr(), nil }

// smtpSourceArgs are the arguments of the i-th of n smtp-source processes.
func smtpSourceArgs(addr string, wl workload, rec *recorder, domain string, i, n int) []string {
	return []string{
		"-c", "-d",
		"-s", strconv.Itoa(share(wl.Clients, n, i)),
		"-m", strconv.Itoa(share(wl.Messages, n, i)),
		"-l", strconv.Itoa(max(wl.Size-smtpSourceHeader, 0)),
		"-M", "client.bench.invalid",
		"-f", rec.anonSender(),
		"-t", recipient(0, domain),
		addr,
	}
}

// share is the i-th of n near-equal parts of total.
func share(total, n, i int) int {
	s := total / n
	if i < total%n {
		s++
	}
	return s
}

func (s smtpSource) drive(addr string, w *world, wl workload, rec *recorder, domains []string) (loadResult, error) {
	n := min(wl.Clients, len(domains))
	res := loadResult{Start: time.Duration(w.since()), Errors: map[string]int{}}
	var first atomic.Int64
	procs := make([]*counting, 0, n)
	want := make([]int, 0, n)
	for i := range n {
		if share(wl.Messages, n, i) == 0 {
			continue
		}
		p, err := startCounting(s.bin, smtpSourceArgs(addr, wl, rec, domains[i], i, n), nil, parseSourceCounter, func(int) {
			now := w.since()
			first.CompareAndSwap(0, now)
		})
		if err != nil {
			for _, p := range procs {
				p.kill()
			}
			return res, err
		}
		procs = append(procs, p)
		want = append(want, share(wl.Messages, n, i))
	}
	for i, p := range procs {
		cpu, err := p.wait()
		res.CPU += cpu
		got := int(p.last.Load())
		res.Accepted += got
		if missing := want[i] - got; missing > 0 {
			res.Refused += missing
			res.Errors[p.why(err)] += missing
			rec.expectFewer(missing * wl.Recipients)
		}
	}
	res.End = time.Duration(w.since())
	res.First = time.Duration(first.Load())
	res.Untimed = true
	return res, nil
}

// smtpSinks is Postfix's smtp-sink, one process per destination domain
// on the domain's address, at a port of its own, started for each run.
// Each prints a counter of the messages it has taken ("mesg=N"); every
// increase counts one arrival, timed as this process reads it.
type smtpSinks struct {
	bin   string
	procs []*counting
}

func (s *smtpSinks) Name() string { return "smtp-sink" }

func (s *smtpSinks) Describe() string { return "Postfix's smtp-sink (one process per domain)" }

func (s *smtpSinks) supports(wl workload) error {
	switch {
	case s.bin == "":
		return errors.New("smtp-sink is not installed (Debian's postfix package has it)")
	case wl.Backlog:
		return errors.New("smtp-sink does not run the backlog drain (the sinks must go down and up)")
	}
	return nil
}

func (s *smtpSinks) open(w *world, rec *recorder) (destinations, error) {
	dst := w.destinations
	port, err := freePortOn(dst.Hosts[0])
	if err != nil {
		return dst, err
	}
	dst.Port = port
	cred, err := unprivileged()
	if err != nil {
		return dst, err
	}
	for i, host := range dst.Hosts {
		addr := net.JoinHostPort(host, strconv.Itoa(port))
		args := []string{"-c", "-h", "mx." + dst.Domains[i], addr, "1024"}
		p, err := startCounting(s.bin, args, cred, parseSinkCounter, func(delta int) {
			now := w.since()
			for range delta {
				rec.arriveAnon(now)
			}
		})
		if err != nil {
			s.close()
			return dst, err
		}
		s.procs = append(s.procs, p)
		if err := waitListening(addr, p.exited, ""); err != nil {
			s.close()
			return dst, fmt.Errorf("smtp-sink on %s: %w: %s", addr, err, p.stderr())
		}
	}
	return dst, nil
}

// unprivileged is the user smtp-sink runs as when the benchmark runs as
// root (nobody), nil otherwise. smtp-sink refuses to run as root without
// -u, but its own switch to that user would clear the parent-death signal
// that ends it should the benchmark die; starting it as that user keeps
// the signal.
func unprivileged() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		return nil, fmt.Errorf("smtp-sink must not run as root: %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user nobody: uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user nobody: gid %q: %w", u.Gid, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

func (s *smtpSinks) close() time.Duration {
	var cpu time.Duration
	for _, p := range s.procs {
		p.kill()
		c, _ := p.wait()
		cpu += c
	}
	s.procs = nil
	return cpu
}

// counting is a Postfix test program whose -c counter is read as it runs:
// each time the count grows, onCount gets the increase.
type counting struct {
	cmd    *exec.Cmd
	last   atomic.Int64 // the last count read
	read   sync.WaitGroup
	exited chan struct{}
	errBuf lockedBuffer
	err    error // cmd.Wait's, once exited is closed
}

// startCounting runs bin, as cred's user where cred is not nil.
func startCounting(bin string, args []string, cred *syscall.Credential, parse func(string) (int, bool), onCount func(delta int)) (*counting, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	p := &counting{cmd: exec.Command(bin, args...), exited: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = pw, &p.errBuf
	// Should the benchmark die, the program dies too.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Credential: cred}
	if err := p.cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	pw.Close()
	p.read.Go(func() {
		defer pr.Close()
		readCounters(pr, parse, func(n int) {
			if prev := p.last.Swap(int64(n)); int64(n) > prev {
				onCount(n - int(prev))
			}
		})
	})
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// kill ends the program (SIGTERM; smtp-sink runs until told).
func (p *counting) kill() { _ = p.cmd.Process.Signal(syscall.SIGTERM) }

// wait waits for the program and its counter, and returns its CPU time
// and exit error.
func (p *counting) wait() (time.Duration, error) {
	<-p.exited
	p.read.Wait()
	st := p.cmd.ProcessState
	return st.UserTime() + st.SystemTime(), p.err
}

// why names a failure: the program's last line on stderr, else its exit.
func (p *counting) why(err error) string {
	if s := p.stderr(); s != "" {
		return s
	}
	if err != nil {
		return fmt.Sprintf("%s: %v", p.cmd.Path, err)
	}
	return fmt.Sprintf("%s: fewer messages than asked for", p.cmd.Path)
}

func (p *counting) stderr() string {
	lines := strings.Split(strings.TrimSpace(p.errBuf.String()), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// readCounters reads a -c counter stream, whose updates end in "\r" (and
// the last one in "\n"), and calls update with each value parse accepts.
func readCounters(r io.Reader, parse func(string) (int, bool), update func(int)) {
	sc := bufio.NewScanner(r)
	sc.Split(splitCounter)
	for sc.Scan() {
		if n, ok := parse(sc.Text()); ok {
			update(n)
		}
	}
}

// splitCounter is a bufio.SplitFunc for tokens ending in CR or LF.
func splitCounter(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// parseSourceCounter reads smtp-source's counter: completed DATA commands.
func parseSourceCounter(tok string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimSpace(tok))
	return n, err == nil && n >= 0
}

// parseSinkCounter reads smtp-sink's "sess=N quit=N mesg=N": the messages
// taken so far.
func parseSinkCounter(tok string) (int, bool) {
	for _, f := range strings.Fields(tok) {
		if v, ok := strings.CutPrefix(f, "mesg="); ok {
			n, err := strconv.Atoi(v)
			return n, err == nil && n >= 0
		}
	}
	return 0, false
}

// lockedBuffer is a bytes.Buffer that a process writes while another
// goroutine may read it; it keeps the last 4 KiB.
type lockedBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > 4<<10 {
		b.buf = b.buf[len(b.buf)-4<<10:]
	}
	return len(p), nil
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
