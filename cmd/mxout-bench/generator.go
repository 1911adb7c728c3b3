package main

import (
	"fmt"
	"os/exec"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// generator is what a relay is measured with: a load that submits the
// workload and sinks that take the deliveries. "go" is this program's own
// pipelining clients and go-smtp sinks, which time every message but run in
// this process, on the cores the relay needs; "smtp-source" is Postfix's
// smtp-source and smtp-sink, separate C processes that only count. A run
// with both shows what the instrument itself does to the result.
type generator struct {
	load  loader
	sinks sinkSet
}

// Name is "go", "smtp-source", or LOAD+SINK for a mixed pair.
func (g generator) Name() string {
	switch {
	case g.load.Name() == "go" && g.sinks.Name() == "go":
		return "go"
	case g.load.Name() == "smtp-source" && g.sinks.Name() == "smtp-sink":
		return "smtp-source"
	case strings.HasPrefix(g.load.Name(), "api") && g.sinks.Name() == "go":
		return g.load.Name()
	}
	return g.load.Name() + "+" + g.sinks.Name()
}

// Describe says in a line what the generator is, for the table's title.
func (g generator) Describe() string {
	return fmt.Sprintf("load: %s; sinks: %s", g.load.Describe(), g.sinks.Describe())
}

// supports returns why the generator cannot run wl, or nil.
func (g generator) supports(wl workload) error {
	if err := g.load.supports(wl); err != nil {
		return err
	}
	return g.sinks.supports(wl)
}

// loader submits a workload to the relay under test.
type loader interface {
	Name() string
	Describe() string
	supports(wl workload) error
	// target is the address of rl that the load submits to, or why
	// the load cannot run against rl.
	target(rl relay) (string, error)
	// drive sends wl's messages to addr, timing them on w's clock, and
	// records each 250 it can tell apart in rec.
	drive(addr string, w *world, wl workload, rec *recorder, domains []string) (loadResult, error)
}

// sinkSet takes the relays' deliveries.
type sinkSet interface {
	Name() string
	Describe() string
	supports(wl workload) error
	// open readies the sinks for one run, counting arrivals in rec, and
	// says where they listen.
	open(w *world, rec *recorder) (destinations, error)
	// close ends the run and returns the CPU time of the sinks'
	// processes (0 for sinks inside this process).
	close() time.Duration
}

// parseGenerators reads --generators: a comma-separated list of "go",
// "smtp-source" or LOAD+SINK ("go+smtp-sink", "smtp-source+go"), to take
// the load and the sinks apart when looking for what slows a relay down.
func parseGenerators(spec string, w *world, tools postfixTools) ([]generator, error) {
	var out []generator
	for _, name := range strings.Split(spec, ",") {
		load, sink, mixed := strings.Cut(strings.TrimSpace(name), "+")
		if !mixed {
			switch load {
			case "go":
				sink = "go"
			case "smtp-source":
				sink = "smtp-sink"
			case "api", "api-raw":
				sink = "go"
			}
		}
		g := generator{}
		switch load {
		case "go":
			g.load = goLoad{}
		case "smtp-source":
			g.load = smtpSource{bin: tools.source}
		case "api", "api-raw":
			g.load = apiLoad{raw: load == "api-raw"}
		default:
			return nil, fmt.Errorf("--generators: unknown load %q (go, smtp-source, api, api-raw)", load)
		}
		switch sink {
		case "go":
			g.sinks = goSinks{w: w}
		case "smtp-sink":
			g.sinks = &smtpSinks{bin: tools.sink}
		default:
			return nil, fmt.Errorf("--generators: unknown sink %q (go, smtp-sink)", sink)
		}
		out = append(out, g)
	}
	return out, nil
}

// postfixTools are the paths of Postfix's test programs; empty when they
// are not installed.
type postfixTools struct{ source, sink string }

func findPostfixTools() postfixTools {
	var t postfixTools
	for _, p := range []struct {
		name string
		dst  *string
	}{{"smtp-source", &t.source}, {"smtp-sink", &t.sink}} {
		if path, err := exec.LookPath(p.name); err == nil {
			*p.dst = path
		} else if path := "/usr/sbin/" + p.name; isExecutable(path) {
			*p.dst = path
		}
	}
	return t
}

func isExecutable(path string) bool { return unix.Access(path, unix.X_OK) == nil }

// goLoad is this program's own clients (load.go).
type goLoad struct{}

func (goLoad) Name() string { return "go" }

func (goLoad) Describe() string {
	return "mxout-bench's Go clients (pipelining, connections kept)"
}

func (goLoad) supports(workload) error { return nil }

func (goLoad) target(rl relay) (string, error) { return rl.Addr(), nil }

func (goLoad) drive(addr string, w *world, wl workload, rec *recorder, domains []string) (loadResult, error) {
	return drive(addr, w, newMessages(wl, rec, domains)), nil
}

// goSinks are the world's go-smtp sinks, in this process.
type goSinks struct{ w *world }

func (goSinks) Name() string { return "go" }

func (goSinks) Describe() string { return "go-smtp in mxout-bench's process" }

func (goSinks) supports(workload) error { return nil }

func (s goSinks) open(_ *world, rec *recorder) (destinations, error) {
	s.w.rec.Store(rec)
	return s.w.destinations, nil
}

func (s goSinks) close() time.Duration {
	s.w.rec.Store(nil)
	return 0
}

// selfCPU is the CPU time this process has used: the Go clients and
// sinks, the DNS server, and the benchmark's own bookkeeping.
func selfCPU() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
