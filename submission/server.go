package submission

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/metrics"
	"github.com/mxout/mxout/queue"
)

// ErrServerClosed is returned by Serve when it is called after Shutdown.
var ErrServerClosed = errors.New("submission: server closed")

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
	// TrustedNetworks may relay without AUTH.
	TrustedNetworks []netip.Prefix
	// Users may AUTH and relay; none means AUTH is not offered.
	Users []User
	// ReadTimeout bounds the wait for each command line and DATA read.
	ReadTimeout time.Duration
	// WriteTimeout bounds each reply write.
	WriteTimeout time.Duration
	// MaxLineLength is the longest command or DATA line, CRLF included.
	MaxLineLength int
	// TLSConfig serves STARTTLS and implicit TLS; nil allows only plain
	// listeners, and so no AUTH.
	TLSConfig *tls.Config
	// Logger receives one line per accepted message and go-smtp's errors;
	// nil discards.
	Logger *slog.Logger
	// Metrics receives the submission counters; nil uses a throwaway
	// registry (for tests).
	Metrics *metrics.Metrics
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Signer DKIM-signs each message after the relay's headers are added
	// and before it is queued; nil sends mail unsigned.
	Signer Signer
}

// Signer is what submission needs from a DKIM signer (package dkim): the
// message with its signatures, or the message unchanged when its domain
// has no key. An error whose Permanent method reports true refuses the
// message (550 5.7.1: signing is required and there is no key); any other
// error is a local fault (451 4.3.0).
type Signer interface {
	Sign(msg []byte, envelopeFrom string) ([]byte, error)
}

// Queue is what submission needs from the queue: store a message durably
// under the ID the caller chose, and fail (storing nothing) otherwise.
type Queue interface {
	Enqueue(ctx context.Context, id queue.ID, env queue.Envelope, body []byte) (queue.ID, error)
}

var _ Queue = (*queue.Queue)(nil)

// Server is the SMTP submission front. Its methods are safe for
// concurrent use; one Server may Serve several listeners.
type Server struct {
	cfg  Config
	q    Queue
	log  *slog.Logger
	m    *metrics.Metrics
	now  func() time.Time
	auth *authenticator

	// ctx is handed to Enqueue; it is cancelled when Shutdown gives up.
	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[*trackedConn]struct{}
	drained   chan struct{} // closed once closed is set and conns is empty
	drainOnce sync.Once
}

// New checks cfg and returns a Server that hands accepted mail to q.
func New(cfg Config, q Queue) (*Server, error) {
	if err := validate(&cfg, q); err != nil {
		return nil, fmt.Errorf("submission: %w", err)
	}
	auth, err := newAuthenticator(cfg.Users)
	if err != nil {
		return nil, fmt.Errorf("submission: %w", err)
	}
	s := &Server{
		cfg:       cfg,
		q:         q,
		log:       cfg.Logger,
		m:         cfg.Metrics,
		now:       cfg.Now,
		auth:      auth,
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*trackedConn]struct{}),
		drained:   make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.m == nil {
		s.m = metrics.New(prometheus.NewRegistry())
	}
	if s.now == nil {
		s.now = time.Now
	}
	for _, r := range allReasons() {
		s.m.MessagesRejected.WithLabelValues(r)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
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
	case cfg.ReadTimeout <= 0 || cfg.WriteTimeout <= 0:
		return errors.New("read and write timeouts must be positive")
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

// Serve accepts SMTP connections on l until Shutdown, then returns nil.
// mode is configs.ListenerTLSNone, ListenerTLSStartTLS (STARTTLS offered,
// AUTH only after it) or ListenerTLSImplicit (TLS from the first byte).
// Serve closes l when it returns.
func (s *Server) Serve(l net.Listener, mode string) error {
	if err := s.checkMode(mode); err != nil {
		l.Close()
		return fmt.Errorf("serve submission on %s: %w", l.Addr(), err)
	}
	tl := &trackingListener{Listener: l, s: s}
	if !s.addListener(tl) {
		l.Close()
		return ErrServerClosed
	}
	defer s.removeListener(tl)
	var inner net.Listener = tl
	if mode == configs.ListenerTLSImplicit {
		inner = tls.NewListener(tl, s.cfg.TLSConfig)
	}
	err := s.smtpServer(mode).Serve(inner)
	if s.isClosed() {
		return nil
	}
	return fmt.Errorf("serve submission on %s: %w", l.Addr(), err)
}

func (s *Server) checkMode(mode string) error {
	switch mode {
	case configs.ListenerTLSNone:
		return nil
	case configs.ListenerTLSStartTLS, configs.ListenerTLSImplicit:
		if s.cfg.TLSConfig == nil {
			return fmt.Errorf("tls mode %q needs a TLS config", mode)
		}
		return nil
	default:
		return fmt.Errorf("unknown tls mode %q", mode)
	}
}

// smtpServer builds the go-smtp server for one listener. go-smtp sets no
// limits by default; every one comes from Config.
func (s *Server) smtpServer(mode string) *smtp.Server {
	srv := smtp.NewServer(backend{s})
	srv.Domain = s.cfg.Hostname
	srv.MaxMessageBytes = s.cfg.MaxMessageBytes
	srv.MaxRecipients = s.cfg.MaxRecipients
	srv.MaxLineLength = s.cfg.MaxLineLength
	srv.ReadTimeout = s.cfg.ReadTimeout
	srv.WriteTimeout = s.cfg.WriteTimeout
	srv.EnableSMTPUTF8 = true
	srv.EnableDSN = true
	srv.AllowInsecureAuth = false
	srv.ErrorLog = errorLog{s.log.With("component", "go-smtp")}
	if mode == configs.ListenerTLSStartTLS {
		srv.TLSConfig = s.cfg.TLSConfig
	}
	return srv
}

// Shutdown stops accepting, lets open sessions finish until ctx ends, then
// closes them and returns ctx's error. Enqueues already under way complete.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		for l := range s.listeners {
			l.Close()
		}
		s.maybeDrainedLocked()
	}
	s.mu.Unlock()
	select {
	case <-s.drained:
		s.cancel()
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	conns := make([]*trackedConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	s.cancel()
	return fmt.Errorf("submission shutdown: %w", ctx.Err())
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// trusted reports whether ip may relay without AUTH.
func (s *Server) trusted(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	for _, p := range s.cfg.TrustedNetworks {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// backend starts a session per EHLO (and again after STARTTLS).
type backend struct{ s *Server }

// NewSession implements smtp.Backend.
func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return b.s.newSession(c), nil
}
