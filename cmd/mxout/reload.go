package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/dkim"
)

// reloader is a part that takes new settings on SIGHUP. apply must leave
// the part as it was when it returns an error.
type reloader struct {
	name  string
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
	if err != nil {
		r.log.Error("reload on SIGHUP failed: the config does not load; nothing changed", "err", err)
		return
	}
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	for _, p := range r.reloaders {
		if err := p.apply(c); err != nil {
			r.log.Error("reload on SIGHUP failed; the settings in use stay", "part", p.name, "err", err)
			continue
		}
		r.log.Info("reloaded on SIGHUP", "part", p.name)
	}
}

// startDKIM loads the DKIM keys (a key that cannot be loaded stops the
// start) and registers their reload. SIGHUP re-reads the dkim section and
// every key file.
func (r *relay) startDKIM() error {
	signer, err := dkim.New(dkimConfig(r.cfg))
	if err != nil {
		return fmt.Errorf("dkim.domains: %w", err)
	}
	r.signer = signer
	if n := len(r.cfg.DKIM.Domains); n > 0 {
		r.log.Info("dkim keys loaded", "domains", n, "require", r.cfg.DKIM.Require)
	}
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	r.reloaders = append(r.reloaders, reloader{name: "dkim", apply: func(c *configs.Config) error {
		if err := signer.Reload(dkimConfig(c)); err != nil {
			return fmt.Errorf("dkim.domains: %w (the keys loaded before stay in use)", err)
		}
		return nil
	}})
	return nil
}
