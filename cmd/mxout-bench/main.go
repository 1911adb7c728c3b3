// Command mxout-bench measures mxout through the whole relay, side by side
// with Postfix: it starts sink MX servers and a DNS server in process, runs
// the real mxout binary and a private Postfix instance (one after the
// other, each with an empty queue on the real disk), drives each with
// concurrent pipelining SMTP clients, and prints per workload the accept
// and end-to-end throughput, accept and end-to-end latency, CPU per 1000
// messages and peak memory, with the ratio mxout/Postfix.
//
//	make bench                                    # the default workloads, one run each
//	go run ./cmd/mxout-bench --runs 3 --json      # medians of three runs, as JSON
//	go run ./cmd/mxout-bench --workloads drain --drain-messages 100000
//	go run ./cmd/mxout-bench --relays mxout --workloads small --messages 50000 --profile prof/
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
	runs           int
	messages       int
	drainMessages  int
	domains        int
	timeout        time.Duration
	backlogIdle    time.Duration
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
	flag.IntVar(&o.runs, "runs", 1, "runs of each workload per relay; the table shows medians")
	flag.IntVar(&o.messages, "messages", 0, "messages per workload other than drain (0: each workload's default)")
	flag.IntVar(&o.drainMessages, "drain-messages", 20000, "messages queued for the backlog drain (the issue's figure is 100000)")
	flag.IntVar(&o.domains, "domains", 10, "destination domains, one sink MX each")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "how long to wait for deliveries after the load, per run")
	flag.DurationVar(&o.backlogIdle, "backlog-idle", 0, "backlog drain: wait this long with the backlog queued before reading memory (a relay's memory right after a burst is not its memory at rest)")
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
	g := &interruptGuard{}
	defer g.watch(func() {
		w.Close()
		if !o.keep {
			os.RemoveAll(base)
		}
	})()

	rep := report{Machine: describeMachine(base, o.mxout, relays), StartedAt: time.Now()}
	names := make([]string, len(relays))
	for i, rl := range relays {
		names[i] = rl.Name()
	}
	fmt.Fprintf(os.Stderr, "mxout-bench: %s; queues under %s (%s)\n", rep.Machine.CPU, base, rep.Machine.Filesystem)
	for _, wl := range wls {
		oc := outcome{Workload: wl, Runs: map[string][]result{}}
		for i := range o.runs {
			order := slices.Clone(relays)
			if i%2 == 1 { // alternate, so that a drift in the machine's load hits both
				slices.Reverse(order)
			}
			for _, rl := range order {
				dir := filepath.Join(base, fmt.Sprintf("%s-%d-%s", wl.Name, i+1, rl.Name()))
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return err
				}
				tag := fmt.Sprintf("%s%d%s", wl.Name, i+1, rl.Name())
				fmt.Fprintf(os.Stderr, "mxout-bench: %s, run %d/%d, %s ... ", wl.Name, i+1, o.runs, rl.Name())
				g.running(rl)
				res, err := runOnce(rl, wl, w, dir, tag, o)
				g.running(nil)
				if err != nil {
					return fmt.Errorf("%s against %s: %w", wl.Name, rl.Name(), err)
				}
				fmt.Fprintf(os.Stderr, "%.0f msgs/s accepted, %.0f msgs/s end to end\n", res.AcceptRate, res.E2ERate)
				oc.Runs[rl.Name()] = append(oc.Runs[rl.Name()], res)
				if !o.keep {
					os.RemoveAll(dir)
				}
			}
		}
		oc.summarize(names)
		if !o.json {
			oc.writeTable(os.Stdout, names)
		}
		rep.Outcomes = append(rep.Outcomes, oc)
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
	fmt.Printf("\n%s; queues on %s\n%s; Postfix %s; took %s\n", rep.Machine.CPU, rep.Machine.Filesystem, rep.Machine.Mxout, rep.Machine.Postfix, rep.Took)
	return nil
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
			out = append(out, &postfixRelay{script: script})
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
