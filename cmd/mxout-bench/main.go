// Command mxout-bench measures mxout through the whole relay, side by side
// with Postfix: it runs the real mxout binary and a private Postfix
// instance (one after the other, each with an empty queue on the real
// disk), drives each with the same load into the same sinks, and prints per
// workload and generator the accept and end-to-end throughput, accept and
// end-to-end latency, CPU per 1000 messages and peak memory, with the ratio
// mxout/Postfix. There are two generators: its own pipelining Go clients
// and go-smtp sinks (in this process, timing every message), and Postfix's
// smtp-source and smtp-sink (separate processes, counting only).
//
//	make bench                                    # the default workloads, one run each
//	go run ./cmd/mxout-bench --runs 3 --json      # medians of three runs, as JSON
//	go run ./cmd/mxout-bench --workloads drain --drain-messages 100000
//	go run ./cmd/mxout-bench --relays mxout --workloads small --messages 50000 --profile prof/
//	go run ./cmd/mxout-bench --relays postfix --workloads small --generators go,go+smtp-sink,smtp-source+go,smtp-source
//
// docs/benchmarks.md explains the figures and records today's numbers.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// options are the command-line settings a run needs.
type options struct {
	mxout, script  string
	dir            string
	relays         []string
	workloads      []string
	generators     string
	postfixLog     string
	runs           int
	messages       int
	drainMessages  int
	domains        int
	timeout        time.Duration
	backlogIdle    time.Duration
	memoryEvery    time.Duration
	json, keep     bool
	jsonFile       string
	profileDir     string
	profileSeconds int
	// set overrides mxout config keys ("queue.badger.memtable_bytes=8MiB"),
	// to measure a setting.
	set settings
}

// settings collects repeated --set key=value flags.
type settings map[string]string

func (s settings) String() string { return fmt.Sprint(map[string]string(s)) }

func (s settings) Set(v string) error {
	key, val, ok := strings.Cut(v, "=")
	if !ok || key == "" {
		return fmt.Errorf("want key=value, got %q", v)
	}
	s[key] = val
	return nil
}

func main() {
	o := options{set: settings{}}
	var relays, workloads string
	flag.StringVar(&o.mxout, "mxout", "bin/mxout", "the mxout binary")
	flag.StringVar(&o.script, "postfix-script", "scripts/postfix-bench.sh", "sets up and runs the private Postfix instance")
	flag.StringVar(&o.dir, "dir", "/var/tmp", "where the queues go: a directory on the disk under test (not tmpfs)")
	flag.StringVar(&relays, "relays", "mxout,postfix", "relays to measure, in order")
	flag.StringVar(&workloads, "workloads", "small,multi,large,drain", "workloads to run: small, multi, large, drain")
	flag.StringVar(&o.generators, "generators", "go,smtp-source", "load and sinks to measure with: go (this program's clients and sinks), smtp-source (Postfix's smtp-source and smtp-sink), api or api-raw (this program's HTTP clients of mxout's send API, built or raw shape, and its sinks; mxout only), or LOAD+SINK to mix them (go+smtp-sink, smtp-source+go)")
	flag.StringVar(&o.postfixLog, "postfix-log", "file", "where Postfix logs: file (maillog_file on the queue's disk, as mxout's log) or syslog (its default; on a machine without a syslog daemon the lines are lost)")
	flag.IntVar(&o.runs, "runs", 1, "runs of each workload per relay; the table shows medians")
	flag.IntVar(&o.messages, "messages", 0, "messages per workload other than drain (0: each workload's default)")
	flag.IntVar(&o.drainMessages, "drain-messages", 20000, "messages queued for the backlog drain (the full backlog is 100000)")
	flag.IntVar(&o.domains, "domains", 10, "destination domains, one sink MX each")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "how long to wait for deliveries after the load, per run")
	flag.DurationVar(&o.backlogIdle, "backlog-idle", 0, "backlog drain: wait this long with the backlog queued before reading memory (a relay's memory right after a burst is not its memory at rest)")
	flag.DurationVar(&o.memoryEvery, "memory-interval", time.Second, "how often to read the relay's memory for its peak (0: only at the end). Postfix has no kernel-kept peak, and reading its ~100 processes' smaps_rollup takes CPU from the cores the relay runs on (docs/benchmarks.md)")
	flag.BoolVar(&o.json, "json", false, "print JSON instead of tables")
	flag.StringVar(&o.jsonFile, "json-file", "", "also write the JSON report to this file")
	flag.BoolVar(&o.keep, "keep", false, "keep the queues and logs of every run")
	flag.StringVar(&o.profileDir, "profile", "", "fetch pprof CPU, allocation and heap profiles of mxout's first run of each workload into this directory (needs metrics.pprof)")
	flag.IntVar(&o.profileSeconds, "profile-seconds", 10, "length of the CPU profile, from the start of the load")
	flag.Var(o.set, "set", "override an mxout config key for every run, e.g. --set queue.badger.memtable_bytes=8MiB (repeatable)")
	flag.Parse()
	o.relays = strings.Split(relays, ",")
	o.workloads = strings.Split(workloads, ",")
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "mxout-bench:", err)
		os.Exit(1)
	}
}

// report is everything a run prints; --json prints it whole.
type report struct {
	Machine   machine   `json:"machine"`
	Outcomes  []outcome `json:"workloads"`
	StartedAt time.Time `json:"started_at"`
	Took      string    `json:"took"`
}

func run(o options) error {
	wls, err := pickWorkloads(o)
	if err != nil {
		return err
	}
	relays, err := pickRelays(o)
	if err != nil {
		return err
	}
	if o.profileDir != "" {
		if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
			return err
		}
	}
	base, err := os.MkdirTemp(o.dir, "mxout-bench-")
	if err != nil {
		return err
	}
	// Postfix's daemons run as the postfix user and must reach their queue.
	if err := os.Chmod(base, 0o755); err != nil {
		return err
	}
	if !o.keep {
		defer os.RemoveAll(base)
	}
	w, err := newWorld(o.domains)
	if err != nil {
		return err
	}
	defer w.Close()
	guard := &interruptGuard{}
	defer guard.watch(func() {
		w.Close()
		if !o.keep {
			os.RemoveAll(base)
		}
	})()

	gens, err := parseGenerators(o.generators, w, findPostfixTools())
	if err != nil {
		return err
	}

	rep := report{Machine: describeMachine(base, o.mxout, relays), StartedAt: time.Now()}
	names := make([]string, len(relays))
	for i, rl := range relays {
		names[i] = rl.Name()
	}
	fmt.Fprintf(os.Stderr, "mxout-bench: %s; queues under %s (%s)\n", rep.Machine.CPU, base, rep.Machine.Filesystem)
	for _, wl := range wls {
		// One outcome per generator that can run the workload.
		type cell struct {
			gen generator
			oc  *outcome
		}
		var cells []cell
		for _, g := range gens {
			if err := g.supports(wl); err != nil {
				fmt.Fprintf(os.Stderr, "mxout-bench: %s with the %s generator: skipped: %v\n", wl.Name, g.Name(), err)
				continue
			}
			cells = append(cells, cell{g, &outcome{Workload: wl, Generator: g.Name(), Setup: g.Describe(), Runs: map[string][]result{}}})
		}
		for i := range o.runs {
			for _, c := range alternate(cells, i) {
				for _, rl := range alternate(relays, i) {
					if _, err := c.gen.load.target(rl); err != nil {
						if i == 0 {
							fmt.Fprintf(os.Stderr, "mxout-bench: %s with the %s generator against %s: skipped: %v\n", wl.Name, c.gen.Name(), rl.Name(), err)
						}
						continue
					}
					res, err := runStep(rl, wl, c.gen, w, base, i, o, guard)
					if err != nil {
						return err
					}
					c.oc.Runs[rl.Name()] = append(c.oc.Runs[rl.Name()], res)
				}
			}
		}
		for _, c := range cells {
			c.oc.summarize(names)
			if !o.json {
				c.oc.writeTable(os.Stdout, names)
			}
			rep.Outcomes = append(rep.Outcomes, *c.oc)
		}
	}
	rep.Took = time.Since(rep.StartedAt).Round(time.Second).String()
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if o.jsonFile != "" {
		if err := os.WriteFile(o.jsonFile, b, 0o644); err != nil {
			return err
		}
	}
	if o.json {
		_, err := os.Stdout.Write(b)
		return err
	}
	writeSummary(os.Stdout, rep.Outcomes)
	fmt.Printf("\n%s; queues on %s\n%s; Postfix %s; took %s\n", rep.Machine.CPU, rep.Machine.Filesystem, rep.Machine.Mxout, rep.Machine.Postfix, rep.Took)
	return nil
}

// runStep is run i of wl against rl with gen, in a directory of its own
// under base.
func runStep(rl relay, wl workload, gen generator, w *world, base string, i int, o options, guard *interruptGuard) (result, error) {
	name := fmt.Sprintf("%s-%d-%s-%s", wl.Name, i+1, gen.Name(), rl.Name())
	dir := filepath.Join(base, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return result{}, err
	}
	// The tag goes into every envelope sender's local part.
	tag := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, name)
	fmt.Fprintf(os.Stderr, "mxout-bench: %s, run %d/%d, %s generator, %s ... ", wl.Name, i+1, o.runs, gen.Name(), rl.Name())
	guard.running(rl)
	res, err := runOnce(rl, wl, gen, w, dir, tag, o)
	guard.running(nil)
	if err != nil {
		fmt.Fprintln(os.Stderr)
		return res, fmt.Errorf("%s with the %s generator against %s: %w", wl.Name, gen.Name(), rl.Name(), err)
	}
	fmt.Fprintf(os.Stderr, "%.0f msgs/s accepted, %.0f msgs/s end to end\n", res.AcceptRate, res.E2ERate)
	if !o.keep {
		os.RemoveAll(dir)
	}
	return res, nil
}

// alternate is s on even runs and s reversed on odd ones, so that a drift
// in the machine's load hits every relay and generator alike.
func alternate[T any](s []T, run int) []T {
	if run%2 == 0 {
		return s
	}
	r := slices.Clone(s)
	slices.Reverse(r)
	return r
}

func pickWorkloads(o options) ([]workload, error) {
	all := defaultWorkloads()
	var out []workload
	for _, name := range o.workloads {
		i := slices.IndexFunc(all, func(wl workload) bool { return wl.Name == name })
		if i < 0 {
			return nil, fmt.Errorf("unknown workload %q (small, multi, large, drain)", name)
		}
		wl := all[i]
		switch {
		case wl.Backlog:
			wl.Messages = o.drainMessages
		case o.messages > 0:
			wl.Messages = o.messages
		}
		out = append(out, wl)
	}
	return out, nil
}

func pickRelays(o options) ([]relay, error) {
	var out []relay
	for _, name := range o.relays {
		switch name {
		case "mxout":
			bin, err := filepath.Abs(o.mxout)
			if err == nil {
				_, err = os.Stat(bin)
			}
			if err != nil {
				return nil, fmt.Errorf("mxout binary: %w (make build)", err)
			}
			out = append(out, &mxoutRelay{bin: bin, profile: o.profileDir != "", set: o.set})
		case "postfix":
			if os.Geteuid() != 0 {
				fmt.Fprintln(os.Stderr, "mxout-bench: Postfix needs root to start its master; measuring without it")
				continue
			}
			script, err := filepath.Abs(o.script)
			if err != nil {
				return nil, err
			}
			if o.postfixLog != "file" && o.postfixLog != "syslog" {
				return nil, fmt.Errorf("--postfix-log: %q is neither file nor syslog", o.postfixLog)
			}
			out = append(out, &postfixRelay{script: script, log: o.postfixLog})
		default:
			return nil, fmt.Errorf("unknown relay %q (mxout, postfix)", name)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no relay to measure")
	}
	return out, nil
}

// interruptGuard stops the relay under test when the benchmark is
// interrupted (SIGINT, SIGTERM): Postfix's master runs detached and
// mxout would outlive us, each holding its port and queue.
type interruptGuard struct {
	mu      sync.Mutex
	current relay
}

func (g *interruptGuard) running(rl relay) {
	g.mu.Lock()
	g.current = rl
	g.mu.Unlock()
}

// watch starts watching for signals until the returned func is called; on
// one it stops the current relay, runs cleanup and exits.
func (g *interruptGuard) watch(cleanup func()) (stop func()) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-sigs:
			fmt.Fprintf(os.Stderr, "\nmxout-bench: %v: stopping the relay under test\n", sig)
			g.mu.Lock()
			if g.current != nil {
				_ = g.current.Stop()
			}
			cleanup()
			os.Exit(130)
		case <-done:
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(done)
	}
}
