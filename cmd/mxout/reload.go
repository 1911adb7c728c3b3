package main

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/dkim"
	"github.com/mxout/mxout/metrics"
)

// reloader is a part that takes new settings on SIGHUP. apply must leave
// the part as it was when it returns an error.
type reloader struct {
	name string
	// keys are the config keys (or sections) it applies; any other
	// changed key needs a restart.
	keys  []string
	apply func(c *configs.Config) error
}

// handleSIGHUP reloads on every SIGHUP until the returned stop is called.
// It is installed before anything starts, because SIGHUP's default action
// would end the process.
func (r *relay) handleSIGHUP() (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-hup:
				r.reload()
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
	}
}

// reload re-reads the config file and hands it to every reloader. A file
// that does not load changes nothing; a part that fails keeps its settings.
func (r *relay) reload() {
	c, err := r.configSrc.load()
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	if err != nil {
		r.log.Error("reload on SIGHUP failed: the config does not load; nothing changed", "err", err)
		r.reloaded(false)
		return
	}
	var reloadable []string
	ok := true
	for _, p := range r.reloaders {
		reloadable = append(reloadable, p.keys...)
		if err := p.apply(c); err != nil {
			r.log.Error("reload on SIGHUP failed; the settings in use stay", "part", p.name, "err", err)
			ok = false
			continue
		}
		r.log.Info("reloaded on SIGHUP", "part", p.name)
	}
	r.reloaded(ok)
	if keys := needRestart(r.cfg, c, reloadable); len(keys) > 0 {
		r.log.Warn("reload on SIGHUP: changed keys need a restart to take effect; until then the relay runs with their old values",
			"keys", strings.Join(keys, " "))
	}
}

// needRestart lists the keys that differ between the config the relay
// started with and c and that no reloader applies: those keep their
// values until a restart, however often SIGHUP comes.
func needRestart(running, c *configs.Config, reloadable []string) []string {
	var out []string
	for _, k := range configs.Diff(running, c) {
		if !configs.Covered(k, reloadable...) {
			out = append(out, k)
		}
	}
	return out
}

// startDKIM loads the DKIM keys (a key that cannot be loaded stops the
// start) and registers their reload. SIGHUP re-reads the dkim section and
// every key file.
func (r *relay) startDKIM(m *metrics.Metrics) error {
	cfg := dkimConfig(r.cfg)
	cfg.Observer = m
	signer, err := dkim.New(cfg)
	if err != nil {
		return fmt.Errorf("dkim.domains: %w", err)
	}
	r.signer = signer
	if n := len(r.cfg.DKIM.Domains); n > 0 {
		r.log.Info("dkim keys loaded", "domains", n, "require", r.cfg.DKIM.Require)
	}
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	r.reloaders = append(r.reloaders, reloader{name: "dkim", keys: []string{"dkim"}, apply: func(c *configs.Config) error {
		if err := signer.Reload(dkimConfig(c)); err != nil {
			return fmt.Errorf("dkim.domains: %w (the keys loaded before stay in use)", err)
		}
		return nil
	}})
	return nil
}
