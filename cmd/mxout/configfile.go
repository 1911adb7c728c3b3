package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/mxout/mxout/configs"
	"github.com/spf13/cobra"
)

// systemConfig is the config file every command reads when neither
// --config nor $MXOUT_CONFIG names one, if it exists. `make build` sets
// it from SYSCONFDIR (-X main.systemConfig=...), so a build for
// /usr/local/etc looks there.
var systemConfig = "/etc/mxout/mxout.yaml"

// paths are the files the commands find without being told: tests give
// their own, so that no test reads the machine's /etc.
type paths struct {
	// systemConfig is the config file used when neither --config nor
	// $MXOUT_CONFIG names one, if it exists.
	systemConfig string
}

// configSource is the config file a command used and why.
type configSource struct {
	// Path is the file; "" is the embedded defaults alone.
	Path string
	// From is how it was chosen: "--config", "$MXOUT_CONFIG", "system"
	// (the system-wide file, which exists) or "defaults" (none of them).
	From string
}

// String says which config was used, for `config check` and errors.
func (s configSource) String() string {
	switch s.From {
	case "--config", "$MXOUT_CONFIG":
		return fmt.Sprintf("%s (from %s)", s.Path, s.From)
	case "system":
		return fmt.Sprintf("%s (neither --config nor $MXOUT_CONFIG is set, and it exists)", s.Path)
	}
	return "none: the embedded defaults (no --config, no $MXOUT_CONFIG, no " + s.Path + ")"
}

// locateConfig is the one rule every command follows: the --config flag,
// else $MXOUT_CONFIG, else the system-wide file if it exists, else the
// embedded defaults. A system-wide file that exists but cannot be read is
// used (and its error reported), never silently skipped.
func locateConfig(flag, env, system string) configSource {
	switch {
	case flag != "":
		return configSource{Path: flag, From: "--config"}
	case env != "":
		return configSource{Path: env, From: "$MXOUT_CONFIG"}
	}
	if _, err := os.Stat(system); !errors.Is(err, fs.ErrNotExist) {
		return configSource{Path: system, From: "system"}
	}
	// Path names the file that was looked for, for String.
	return configSource{Path: system, From: "defaults"}
}

// configFile is a command's --config flag and the rule that finds the
// config when the flag is not given.
type configFile struct {
	flag   string
	system string
}

// addConfigFlag adds --config (-c) to cmd; persistent makes it a flag of
// every subcommand of cmd too.
func addConfigFlag(cmd *cobra.Command, p paths, persistent bool) *configFile {
	f := &configFile{system: p.systemConfig}
	flags := cmd.Flags()
	if persistent {
		flags = cmd.PersistentFlags()
	}
	flags.StringVarP(&f.flag, "config", "c", "",
		"YAML config file (default $MXOUT_CONFIG, else "+p.systemConfig+" if it exists, else the embedded defaults)")
	return f
}

// locate finds the config file by the rule.
func (f *configFile) locate() configSource {
	return locateConfig(f.flag, os.Getenv("MXOUT_CONFIG"), f.system)
}

// load reads the config the rule finds.
func (f *configFile) load() (*configs.Config, configSource, error) {
	src := f.locate()
	c, err := src.load()
	return c, src, err
}

// load reads the config: the embedded defaults, the file if there is one,
// and the MXOUT_* environment.
func (s configSource) load() (*configs.Config, error) {
	if s.From == "defaults" {
		return configs.Load("")
	}
	return configs.Load(s.Path)
}
