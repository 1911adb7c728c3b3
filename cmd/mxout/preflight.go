package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/dkim"
	"github.com/mxout/mxout/resolver"
	"github.com/mxout/mxout/submission"
)

// preflight is what `mxout config check` adds to loading the config:
// every check of serve's start that needs no socket and no queue, made
// with the same functions serve uses, so that a config it passes does not
// fail at start (short of a port or socket taken by another process, or
// a directory this user may not write). It returns the warnings about
// settings that are valid but surely wrong.
func preflight(c *configs.Config) (warnings []string, err error) {
	if _, err := dkim.New(dkimConfig(c)); err != nil {
		return nil, fmt.Errorf("dkim.domains: %w", err)
	}
	_, warnings, err = submissionUsers(c.Submission)
	if err != nil {
		return nil, err
	}
	if f := c.Submission.TLS; f.CertFile != "" {
		if _, err := submission.NewCertStore(f.CertFile, f.KeyFile); err != nil {
			return nil, fmt.Errorf("submission.tls: %w", err)
		}
	}
	if f := c.API.TLS; f.CertFile != "" {
		if _, err := submission.NewCertStore(f.CertFile, f.KeyFile); err != nil {
			return nil, fmt.Errorf("api.tls: %w", err)
		}
	}
	for _, k := range c.API.Keys {
		if _, err := submission.NewSender(k.Name, k.AllowedSenders); err != nil {
			return nil, fmt.Errorf("api.keys: %w", err)
		}
		if len(k.AllowedSenders) == 0 && !strings.Contains(k.Name, "@") {
			warnings = append(warnings, fmt.Sprintf("api.keys: %q has no allowed_senders and its name is not an address: it can never send", k.Name))
		}
	}
	if _, err := smarthostRoots(c.Delivery.Smarthost.CAFile); err != nil {
		return nil, err
	}
	if _, err := resolver.New(resolverConfig(c)); err != nil {
		return nil, fmt.Errorf("resolver.servers: %w", err)
	}
	if err := checkDirs(c); err != nil {
		return nil, err
	}
	if sh := c.Delivery.Smarthost; !sh.Address.IsZero() && sh.InsecureSkipVerify {
		warnings = append(warnings, "delivery.smarthost.insecure_skip_verify: the smarthost's certificate is not verified; an active attacker can pose as it and collect the mail and the AUTH password")
	}
	return warnings, nil
}

// checkDirs checks that serve can make data_dir (it creates the missing
// directories) and bind admin.socket: the nearest existing ancestor of
// each is a directory, and a socket path is not taken by a file.
func checkDirs(c *configs.Config) error {
	if err := creatable(c.DataDir); err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	path := c.AdminSocket()
	if path == "" {
		return nil
	}
	if filepath.IsAbs(c.Admin.Socket) {
		// serve makes data_dir, but not the directory of a socket elsewhere.
		if fi, err := os.Stat(filepath.Dir(path)); err != nil || !fi.IsDir() {
			return fmt.Errorf("admin.socket: the directory %s does not exist", filepath.Dir(path))
		}
	}
	if fi, err := os.Lstat(path); err == nil && fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("admin.socket: %s exists and is not a socket", path)
	}
	return nil
}

// creatable reports why the directory dir cannot be made (with its
// parents) or used: it, or its nearest existing ancestor, is not a
// directory.
func creatable(dir string) error {
	for p := filepath.Clean(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		switch {
		case err == nil && fi.IsDir():
			return nil
		case err == nil:
			return fmt.Errorf("%s is not a directory", p)
		case !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR):
			return err
		case p == filepath.Dir(p):
			return nil
		}
	}
}
