package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/metrics"
	"github.com/mxout/mxout/submission"
)

func submissionConfig(c *configs.Config, tlsConf *tls.Config, users []submission.User, log *slog.Logger, m *metrics.Metrics) submission.Config {
	s := c.Submission
	return submission.Config{
		Hostname:                      c.Hostname,
		MaxMessageBytes:               int64(s.MaxMessageBytes),
		MaxRecipients:                 s.MaxRecipients,
		TrustedNetworks:               s.TrustedNetworks,
		Users:                         users,
		AllowPlaintextAuthFromTrusted: s.AllowPlaintextAuthFromTrusted,
		ReadTimeout:                   s.ReadTimeout,
		WriteTimeout:                  s.WriteTimeout,
		DataTimeout:                   s.DataTimeout,
		SessionTimeout:                s.SessionTimeout,
		MaxLineLength:                 s.MaxLineLength,
		MaxErrors:                     s.MaxErrors,
		MaxConnections:                s.MaxConnections,
		MaxConnectionsPerIP:           s.MaxConnectionsPerIP,
		PreAuthTimeout:                s.PreAuthTimeout,
		RateLimit: submission.RateLimit{
			Window: s.RateLimit.Window, MessagesPerUser: s.RateLimit.MessagesPerUser, MessagesPerIP: s.RateLimit.MessagesPerIP,
		},
		AuthThrottle: submission.AuthThrottle{
			Window: s.AuthThrottle.Window, MaxFailuresPerIP: s.AuthThrottle.MaxFailuresPerIP,
			MaxFailuresPerUser: s.AuthThrottle.MaxFailuresPerUser, MaxFailuresPerSession: s.AuthThrottle.MaxFailuresPerSession,
			Delay: s.AuthThrottle.Delay,
		},
		CheckHeaderFrom:    s.CheckHeaderFrom,
		ReceivedHeaderAuth: s.ReceivedHeaderAuth,
		HideClientIP:       s.HideClientIP,
		TLSConfig:          tlsConf,
		Logger:             log,
		Metrics:            m,
	}
}

// submissionUsers is submission.users followed by the users of
// submission.users_file, read now. warnings names, by its key, each user
// that can never send (see submission.NeverSends): valid, but surely a
// mistake.
func submissionUsers(s configs.Submission) (users []submission.User, warnings []string, err error) {
	var more []configs.User
	if s.UsersFile != "" {
		if more, err = configs.LoadUsersFile(s.UsersFile); err != nil {
			return nil, nil, err
		}
		for _, u := range more {
			if slices.ContainsFunc(s.Users, func(c configs.User) bool { return c.Username == u.Username }) {
				return nil, nil, fmt.Errorf("submission.users_file %s: user %q is also in submission.users", s.UsersFile, u.Username)
			}
		}
	}
	add := func(key string, list []configs.User) {
		for i, u := range list {
			su := submission.User{Username: u.Username, PasswordHash: u.PasswordHash, AllowedSenders: u.AllowedSenders}
			if submission.NeverSends(su) {
				warnings = append(warnings, fmt.Sprintf("%s[%d]: user %q can never send: its allowed_senders is empty and its username is not an address", key, i, u.Username))
			}
			users = append(users, su)
		}
	}
	add("submission.users", s.Users)
	add("submission.users_file "+s.UsersFile, more)
	return users, warnings, nil
}

// logUserWarnings logs what submissionUsers warns about.
func logUserWarnings(log *slog.Logger, warnings []string) {
	for _, w := range warnings {
		log.Warn("submission user can never send", "problem", w)
	}
}

// startSubmission builds the submission server with its certificate store
// and users, and registers their reload on SIGHUP: "submission.users"
// (submission.users and users_file, read again) and "submission.tls" (the
// certificate files named in the new config, also read again whenever
// they change on disk).
func (r *relay) startSubmission(m *metrics.Metrics) error {
	s := r.cfg.Submission
	users, warnings, err := submissionUsers(s)
	if err != nil {
		return err
	}
	logUserWarnings(r.log, warnings)
	var tlsConf *tls.Config
	var certs *submission.CertStore
	if s.TLS.CertFile != "" {
		if certs, err = submission.NewCertStore(s.TLS.CertFile, s.TLS.KeyFile); err != nil {
			return fmt.Errorf("submission.tls: %w", err)
		}
		r.logCert(certs)
		tlsConf = certs.TLSConfig()
		r.certs = certs
	}
	sc := submissionConfig(r.cfg, tlsConf, users, r.log, m)
	sc.Signer = r.signer
	if r.submission, err = submission.New(sc, r.q); err != nil {
		return err
	}
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	r.reloaders = append(r.reloaders, reloader{name: "submission.users", keys: []string{"submission.users", "submission.users_file"}, apply: func(c *configs.Config) error {
		users, warnings, err := submissionUsers(c.Submission)
		if err != nil {
			return err
		}
		logUserWarnings(r.log, warnings)
		return r.submission.SetUsers(users)
	}})
	if certs == nil {
		return nil
	}
	r.reloaders = append(r.reloaders, reloader{name: "submission.tls", keys: []string{"submission.tls.cert_file", "submission.tls.key_file"}, apply: func(c *configs.Config) error {
		f := c.Submission.TLS
		if f.CertFile == "" {
			return errors.New("submission.tls.cert_file: the certificate cannot be removed without a restart")
		}
		if err := certs.LoadFiles(f.CertFile, f.KeyFile); err != nil {
			return fmt.Errorf("submission.tls: %w", err)
		}
		r.logCert(certs)
		return nil
	}})
	if s.TLS.WatchInterval > 0 {
		go r.watchCerts(certs, s.TLS.WatchInterval)
	}
	return nil
}

func (r *relay) logCert(certs *submission.CertStore) {
	r.log.Info("submission certificate loaded", "subject", certs.Leaf().Subject.String(), "not_after", certs.NotAfter())
}

// watchCerts reloads the certificate when its files change on disk, until
// the relay stops. A reload on SIGHUP and one here never run at once.
func (r *relay) watchCerts(certs *submission.CertStore, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-r.done:
			return
		case <-t.C:
			if !certs.Changed() {
				continue
			}
			r.reloadMu.Lock()
			err := certs.Reload()
			r.reloadMu.Unlock()
			if err != nil {
				r.log.Error("reload after the files changed failed; the settings in use stay", "part", "submission.tls", "err", err)
				continue
			}
			r.log.Info("reloaded after the files changed", "part", "submission.tls")
			r.logCert(certs)
		}
	}
}
