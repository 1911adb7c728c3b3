package submission

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/dkim"
	"github.com/mxout/mxout/metrics"
	"github.com/mxout/mxout/queue"
)

// ErrServerClosed is returned by Serve when it is called after Shutdown.
var ErrServerClosed = errors.New("submission: server closed")

// Signer is what submission needs from a DKIM signer (package dkim): the
// message with its signatures, or the message unchanged when its domain
// has no key. allowed, when not nil, is asked about the signing domain
// before a key is used, and a domain it refuses is never signed for: Sign
// returns an error matching dkim.ErrDomainNotAllowed (553 5.7.1). Another
// error whose Permanent method reports true refuses the message (550
// 5.7.1: signing is required and there is no key); any other error is a
// local fault (451 4.3.0).
type Signer interface {
	Signatures(msg []byte, envelopeFrom string, allowed func(domain string) bool) (dkim.Signature, error)
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
	auth atomic.Pointer[authenticator] // swapped by SetUsers

	// Sliding-window counters shared by all connections. AUTH failures
	// count per client address and per (username, client address), which
	// limit, and per username, which only slows down (session_auth.go).
	authFailsByIP, authFailsByUserIP, authFailsByUser *windowCounter
	msgsByIP, msgsByUser                              *windowCounter

	// blocks holds the buffers that messages of unknown size are read into.
	blocks blockPool

	// ctx is handed to Enqueue; it is cancelled when Shutdown gives up.
	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[*trackedConn]struct{}
	// connsPerIP counts the open connections of untrusted clients, by
	// clientKey.
	connsPerIP map[string]int
	// preAuth counts the open connections of untrusted clients that have
	// not authenticated (see admit).
	preAuth   int
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
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*trackedConn]struct{}),
		drained:   make(chan struct{}),

		connsPerIP:        make(map[string]int),
		authFailsByIP:     newWindowCounter(cfg.AuthThrottle.Window),
		authFailsByUser:   newWindowCounter(cfg.AuthThrottle.Window),
		authFailsByUserIP: newWindowCounter(cfg.AuthThrottle.Window),
		msgsByIP:          newWindowCounter(cfg.RateLimit.Window),
		msgsByUser:        newWindowCounter(cfg.RateLimit.Window),
	}
	s.auth.Store(auth)
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.m == nil {
		s.m = metrics.Discard()
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

// SetUsers replaces the accounts that may AUTH, for sessions that
// authenticate from now on; a session already authenticated keeps its
// user only while the name still exists, with that user's new allowed
// senders. On error the old accounts stay.
func (s *Server) SetUsers(users []User) error {
	auth, err := newAuthenticator(users)
	if err != nil {
		return fmt.Errorf("submission users: %w", err)
	}
	s.auth.Store(auth)
	return nil
}

// Serve accepts SMTP connections on l until Shutdown, then returns nil.
// mode is configs.TLSNone, TLSStartTLS (STARTTLS offered, AUTH only
// after it) or TLSImplicit (TLS from the first byte).
// Serve closes l when it returns.
func (s *Server) Serve(l net.Listener, mode configs.TLSMode) error {
	if err := s.checkMode(mode); err != nil {
		l.Close()
		return fmt.Errorf("serve submission on %s: %w", l.Addr(), err)
	}
	tl := &trackingListener{Listener: l, s: s, implicitTLS: mode == configs.TLSImplicit}
	if !s.addListener(tl) {
		l.Close()
		return ErrServerClosed
	}
	defer s.removeListener(tl)
	var inner net.Listener = tl
	if mode == configs.TLSImplicit {
		inner = tls.NewListener(tl, s.cfg.TLSConfig)
	}
	err := s.smtpServer(mode).Serve(inner)
	if s.isClosed() {
		return nil
	}
	return fmt.Errorf("serve submission on %s: %w", l.Addr(), err)
}

func (s *Server) checkMode(mode configs.TLSMode) error {
	switch mode {
	case configs.TLSNone:
		return nil
	case configs.TLSStartTLS, configs.TLSImplicit:
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
func (s *Server) smtpServer(mode configs.TLSMode) *smtp.Server {
	srv := smtp.NewServer(backend{s})
	srv.Domain = s.cfg.Hostname
	srv.MaxMessageBytes = s.cfg.MaxMessageBytes
	// The session enforces MaxRecipients itself: go-smtp would advertise
	// LIMITS, which is not in the extension set we promise.
	srv.MaxRecipients = 0
	srv.MaxLineLength = s.cfg.MaxLineLength
	srv.ReadTimeout = s.cfg.ReadTimeout
	srv.WriteTimeout = s.cfg.WriteTimeout
	srv.EnableSMTPUTF8 = true
	srv.EnableDSN = true
	// With plaintext AUTH for trusted clients allowed, go-smtp leaves the
	// TLS check to the session (AuthMechanisms and Auth refuse the others).
	srv.AllowInsecureAuth = s.cfg.AllowPlaintextAuthFromTrusted
	srv.ErrorLog = errorLog{s.log.With("component", "go-smtp")}
	if mode == configs.TLSStartTLS {
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
		// Idle sessions end at once (421); a client inside a
		// transaction may finish it and gets 421 at its next command.
		for c := range s.conns {
			c.drain()
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
