package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the version, commit, Go version and build date (as --version does)",
		Example: "  mxout version\n  mxout --version",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), currentBuild())
			return err
		},
	}
}

// build names the binary: what the Makefile's -ldflags set, or else what
// the Go toolchain recorded (a plain `go build` in a git checkout records
// the commit and its time; `go run` records none).
type build struct {
	version, commit, date string
}

// String is the line `mxout version` and `mxout --version` print.
func (b build) String() string {
	return fmt.Sprintf("mxout %s (commit %s, built %s, %s %s/%s)",
		b.version, b.commit, b.date, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func currentBuild() build {
	b := build{version: version, commit: commit, date: buildDate}
	info, ok := debug.ReadBuildInfo()
	if !ok || b.commit != "unknown" {
		return b
	}
	return b.withVCS(info.Settings)
}

// withVCS fills the commit and date from the toolchain's vcs.* settings;
// a checkout with uncommitted changes gets "-dirty" after the commit.
func (b build) withVCS(settings []debug.BuildSetting) build {
	var revision, when string
	dirty := false
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if revision == "" {
		return b
	}
	b.commit = revision[:min(len(revision), 7)]
	if dirty {
		b.commit += "-dirty"
	}
	if when != "" {
		b.date = when + " (commit time)"
	}
	return b
}
