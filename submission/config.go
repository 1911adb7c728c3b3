package submission

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/mxout/mxout/metrics"
)

// Config configures a Server. cmd/mxout fills it from configs.Submission;
// every limit must be set, there are no silent defaults here.
type Config struct {
	// Hostname is the relay's name in the greeting, in Received fields and
	// in the Message-IDs it adds.
	Hostname string
	// MaxMessageBytes is the largest DATA accepted (552 5.3.4 above it).
	MaxMessageBytes int64
	// MaxRecipients is the most RCPTs per transaction (452 4.5.3 above it).
	MaxRecipients int
	// TrustedNetworks may relay without AUTH, and are exempt from the
	// per-IP connection and message limits (as Postfix's mynetworks).
	TrustedNetworks []netip.Prefix
	// Users may AUTH and relay; none means AUTH is not offered. SetUsers
	// replaces them on a running Server.
	Users []User
	// AllowPlaintextAuthFromTrusted offers AUTH without TLS to clients in
	// TrustedNetworks. Untrusted clients never see AUTH before TLS.
	AllowPlaintextAuthFromTrusted bool

	// ReadTimeout bounds the wait for each command line and BDAT chunk.
	ReadTimeout time.Duration
	// WriteTimeout bounds each reply write.
	WriteTimeout time.Duration
	// DataTimeout bounds the whole message transfer, from the 354 reply
	// (or the first BDAT) to the last byte: a client that dribbles data
	// is cut off with 421 4.4.2.
	DataTimeout time.Duration
	// SessionTimeout bounds a whole connection; no read waits past it.
	SessionTimeout time.Duration
	// MaxLineLength is the longest command or message line, CRLF included.
	MaxLineLength int
	// MaxErrors is how many refused commands a connection may collect;
	// the next refusal is 421 4.7.0 and the connection is closed.
	MaxErrors int
	// MaxConnections bounds open connections over all listeners, and
	// MaxConnectionsPerIP those from one untrusted address; more get
	// 421 4.7.0 at connect. Untrusted clients that have not authenticated
	// may hold at most 80% of MaxConnections (at least one), so that
	// strangers cannot take the slots of trusted and authenticated
	// clients.
	MaxConnections      int
	MaxConnectionsPerIP int
	// PreAuthTimeout is how long an untrusted client may stay connected
	// without authenticating (it cannot send MAIL before); then it gets
	// 421 4.4.2 and is closed.
	PreAuthTimeout time.Duration
	// RateLimit bounds accepted messages per user and per client address.
	RateLimit RateLimit
	// AuthThrottle slows down and stops password guessing.
	AuthThrottle AuthThrottle

	// CheckHeaderFrom makes an authenticated user's From: header obey
	// its AllowedSenders too (553 5.7.1), not only MAIL FROM.
	CheckHeaderFrom bool
	// ReceivedHeaderAuth names the authenticated user in the Received
	// field; off, only "ESMTPA" tells that AUTH was used.
	ReceivedHeaderAuth bool
	// HideClientIP leaves the client's IP address out of the Received
	// field (the queue and the logs still record it).
	HideClientIP bool

	// TLSConfig serves STARTTLS and implicit TLS; nil allows only plain
	// listeners, and so no AUTH from untrusted clients. Build it with
	// CertStore.TLSConfig to reload certificates without a restart.
	TLSConfig *tls.Config
	// Logger receives one line per accepted message and go-smtp's errors;
	// nil discards.
	Logger *slog.Logger
	// Metrics receives the submission counters; nil: metrics.Discard().
	Metrics *metrics.Metrics
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Signer DKIM-signs each message after the relay's headers are added
	// and before it is queued; nil sends mail unsigned.
	Signer Signer
}

// RateLimit bounds accepted messages over a sliding Window. Zero in a
// Messages field means no limit. A client over a limit gets 450 4.7.1 at
// MAIL.
type RateLimit struct {
	Window time.Duration
	// MessagesPerUser counts the messages of one authenticated user.
	MessagesPerUser int
	// MessagesPerIP counts the messages from one untrusted client address.
	MessagesPerIP int
}

// AuthThrottle limits failed AUTH attempts. Every failure is answered
// after Delay. A failure that reaches a limit is answered 535 5.7.8 and
// the connection is closed; while the client address stays over
// MaxFailuresPerIP, or a username from that address over
// MaxFailuresPerUser (within the sliding Window), every such AUTH is
// answered 454 4.7.0 after Delay and the connection is closed. A
// username's failures from all addresses never lock it out: every
// MaxFailuresPerUser of them adds Delay to each AUTH for it (at most five
// times Delay), so a stranger cannot lock a user out, only slow it down.
type AuthThrottle struct {
	Window                time.Duration
	MaxFailuresPerIP      int
	MaxFailuresPerUser    int
	MaxFailuresPerSession int
	Delay                 time.Duration
}

func validate(cfg *Config, q Queue) error {
	switch {
	case q == nil:
		return errors.New("no queue")
	case cfg.Hostname == "" || strings.ContainsFunc(cfg.Hostname, func(r rune) bool { return r <= ' ' || r >= 0x7f }):
		return fmt.Errorf("hostname %q: want a host name", cfg.Hostname)
	case cfg.MaxMessageBytes <= 0:
		return errors.New("max message bytes must be positive")
	case cfg.MaxRecipients <= 0:
		return errors.New("max recipients must be positive")
	case cfg.MaxLineLength <= 0:
		return errors.New("max line length must be positive")
	case cfg.ReadTimeout <= 0 || cfg.WriteTimeout <= 0 || cfg.DataTimeout <= 0 || cfg.SessionTimeout <= 0:
		return errors.New("read, write, data and session timeouts must be positive")
	case cfg.MaxErrors <= 0:
		return errors.New("max errors must be positive")
	case cfg.MaxConnections <= 0 || cfg.MaxConnectionsPerIP <= 0:
		return errors.New("connection limits must be positive")
	case cfg.PreAuthTimeout <= 0:
		return errors.New("pre-auth timeout must be positive")
	case cfg.RateLimit.Window <= 0 || cfg.RateLimit.MessagesPerUser < 0 || cfg.RateLimit.MessagesPerIP < 0:
		return errors.New("rate limit: window must be positive, limits 0 (none) or positive")
	}
	a := cfg.AuthThrottle
	if a.Window <= 0 || a.MaxFailuresPerIP <= 0 || a.MaxFailuresPerUser <= 0 || a.MaxFailuresPerSession <= 0 || a.Delay < 0 {
		return errors.New("auth throttle: window and limits must be positive, delay not negative")
	}
	nets := make([]netip.Prefix, len(cfg.TrustedNetworks))
	for i, p := range cfg.TrustedNetworks {
		if !p.IsValid() {
			return fmt.Errorf("trusted network %d is not a valid prefix", i)
		}
		nets[i] = p.Masked()
	}
	cfg.TrustedNetworks = nets // a copy: the caller's slice stays untouched
	return nil
}
