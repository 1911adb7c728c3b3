// Command mxout-queuegen measures mxout's queue at scale: it fills a data
// directory with many messages through the real queue.Enqueue, measures
// how `mxout serve` starts on it (time to listen, RSS), and drains it to
// measure how much disk value-log GC gives back. docs/benchmarks.md
// ("Queue at scale") records its numbers and the commands.
//
//	go run ./cmd/mxout-queuegen fill    --dir /var/tmp/q1m --n 1000000
//	go run ./cmd/mxout-queuegen startup --dir /var/tmp/q1m --bin bin/mxout
//	go run ./cmd/mxout-queuegen drain   --dir /var/tmp/q1m
//
// The queue's settings are the embedded defaults (as `mxout serve` runs
// without a config) with data_dir replaced by --dir.
package main

import (
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/mxout/mxout/internal/queueconfig"
	"github.com/mxout/mxout/queue"
)

func main() {
	if len(os.Args) < 2 {
		printUsage()
	}
	fsFlags := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	dir := fsFlags.String("dir", "", "the queue's data directory (required)")
	var run func() error
	switch os.Args[1] {
	case "fill":
		n := fsFlags.Int("n", 100000, "messages to enqueue")
		body := fsFlags.Int("body", 5000, "body size in bytes (above queue.badger.value_threshold: bodies go to the value log)")
		domains := fsFlags.Int("domains", 1000, "distinct recipient domains")
		workers := fsFlags.Int("workers", 256, "concurrent enqueuers (they share synced commits)")
		run = func() error { return fill(*dir, *n, *body, *domains, *workers) }
	case "startup":
		bin := fsFlags.String("bin", "bin/mxout", "the mxout binary")
		settle := fsFlags.Duration("settle", 0, "wait this long after start-up before sampling RSS again (0: 5s)")
		run = func() error { return startup(*dir, *bin, *settle) }
	case "drain":
		workers := fsFlags.Int("workers", 64, "concurrent completers")
		run = func() error { return drain(*dir, *workers) }
	default:
		printUsage()
	}
	fsFlags.Parse(os.Args[2:])
	if *dir == "" {
		printUsage()
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "mxout-queuegen:", err)
		os.Exit(1)
	}
}

func printUsage() {
	fmt.Fprintln(os.Stderr, "usage: mxout-queuegen fill|startup|drain --dir DIR [flags]  (mxout-queuegen CMD -h lists the flags)")
	os.Exit(2)
}

// options are the queue options of the embedded defaults with dir as
// data_dir, as mxout serve would open it; badger logs warnings to stderr.
func options(dir string) (queue.Options, error) {
	return queueconfig.Defaults(dir, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
}

// diskUsage sums the sizes of the files under dir as allocated on disk
// (sparse files count what they really use), by kind of badger file.
func diskUsage(dir string) (usage, error) {
	var u usage
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n, err := allocated(p)
		if err != nil {
			return err
		}
		switch filepath.Ext(p) {
		case ".vlog":
			u.vlog += n
		case ".sst":
			u.sst += n
		case ".mem":
			u.mem += n
		default:
			u.other += n
		}
		return nil
	})
	return u, err
}

type usage struct{ vlog, sst, mem, other int64 }

func (u usage) total() int64 { return u.vlog + u.sst + u.mem + u.other }

func (u usage) String() string {
	return fmt.Sprintf("%s (value log %s, tables %s, memtables %s, other %s)",
		mib(u.total()), mib(u.vlog), mib(u.sst), mib(u.mem), mib(u.other))
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
