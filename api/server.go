package api

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"golang.org/x/net/netutil"
	"golang.org/x/sync/semaphore"

	"github.com/mxout/mxout/queue"
)

// Queue is where accepted mail goes: SMTP submission's checks and the
// durable queue, which cmd/mxout joins behind this interface.
type Queue interface {
	// Submit checks m as SMTP submission checks a message (size, the
	// key's senders, header From, DKIM signing, the disk reserve) and
	// queues it. It returns once the message is synced to disk. A refusal
	// is an *Error, or an *smtp.SMTPError as submission would answer it.
	// With an IdempotencyKey, the receipt is kept (24 h) in the same commit.
	Submit(ctx context.Context, m *Message) (Receipt, error)
	// Replay returns the receipt kept for a key's earlier request with
	// the same Idempotency-Key; ok is false when there is none.
	Replay(ctx context.Context, key, idempotencyKey string) (r Receipt, ok bool, err error)
}

// Receipt is the 202 answer to a send, and what a replay answers again.
type Receipt struct {
	ID         string `json:"id"`
	MessageID  string `json:"message_id"`
	Recipients int    `json:"recipients"`
}

// Events is the event log the feed reads.
type Events interface {
	// EventsTagged returns up to max records tagged tag numbered above after.
	EventsTagged(tag string, after uint64, max int) ([]queue.EventRecord, error)
}

// Observer is told the status of every answer.
type Observer interface {
	Answered(status int)
}

// Config configures a Server. cmd/mxout fills it from configs.
type Config struct {
	// Hostname goes into the Message-IDs the API makes.
	Hostname string
	// Keys may use the API.
	Keys []Key
	// MaxMessageBytes and MaxRecipients are submission's limits.
	MaxMessageBytes int64
	MaxRecipients   int
	// TLSConfig, when set, serves HTTPS.
	TLSConfig *tls.Config
	// MaxConnections bounds open connections; 0 means 512.
	MaxConnections int
	// MaxInFlightBytes bounds the memory that requests being handled may
	// hold, estimated from their size; 0 means 256 MiB. A request waits
	// for room rather than failing.
	MaxInFlightBytes int64
	// Observer, when set, is told the status of every answer.
	Observer Observer
	Logger   *slog.Logger
	// Now is the clock of the Date fields; nil means time.Now.
	Now func() time.Time
}

// Server serves the API. Build it with New.
type Server struct {
	cfg      Config
	q        Queue
	ev       Events
	keys     atomic.Pointer[keyring] // swapped by SetKeys
	budget   *semaphore.Weighted
	inflight *keyLocks
	log      *slog.Logger
	http     *http.Server
}

// New builds a Server that queues through q and reads events from ev.
func New(cfg Config, q Queue, ev Events) (*Server, error) {
	switch {
	case cfg.Hostname == "":
		return nil, errors.New("api: no hostname")
	case cfg.MaxMessageBytes <= 0 || cfg.MaxRecipients <= 0:
		return nil, errors.New("api: message size and recipient limits must be positive")
	}
	kr, err := newKeyring(cfg.Keys)
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = 512
	}
	if cfg.MaxInFlightBytes <= 0 {
		cfg.MaxInFlightBytes = 256 << 20
	}
	s := &Server{
		cfg: cfg, q: q, ev: ev, log: cfg.Logger,
		budget:   semaphore.NewWeighted(cfg.MaxInFlightBytes),
		inflight: newKeyLocks(),
	}
	s.keys.Store(kr)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/send", s.send)
	mux.HandleFunc("GET /v1/events", s.feed)
	mux.HandleFunc("/v1/send", methodNotAllowed(http.MethodPost))
	mux.HandleFunc("/v1/events", methodNotAllowed(http.MethodGet))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &Error{Status: http.StatusNotFound, Message: "no such endpoint: " + r.URL.Path})
	})
	s.http = &http.Server{
		Handler:           s.observe(s.authorize(mux)),
		TLSConfig:         cfg.TLSConfig,
		ReadHeaderTimeout: 10 * time.Second,
		// A 10 MB message over a slow link; the body is bounded anyway.
		ReadTimeout:    5 * time.Minute,
		WriteTimeout:   6 * time.Minute,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// Serve answers requests on l until Shutdown; it returns nil after
// Shutdown.
func (s *Server) Serve(l net.Listener) error {
	l = netutil.LimitListener(l, s.cfg.MaxConnections)
	var err error
	if s.cfg.TLSConfig != nil {
		err = s.http.ServeTLS(l, "", "")
	} else {
		err = s.http.Serve(l)
	}
	if !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("api server: %w", err)
	}
	return nil
}

// Shutdown stops accepting requests and waits for those being handled
// (a send in its commit) until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.http.Shutdown(ctx)
}

// SetKeys replaces the keys of a running Server (a reload): requests
// that start afterwards use the new ones.
func (s *Server) SetKeys(keys []Key) error {
	kr, err := newKeyring(keys)
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	s.keys.Store(kr)
	return nil
}

// keyContextKey carries the authenticated Key in a request's context.
type keyContextKey struct{}

// authorize answers 401 to a request without a known token.
func (s *Server) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k := s.keys.Load().authenticate(r)
		if k == nil {
			s.log.Debug("api: request without a known token", "remote", r.RemoteAddr, "path", r.URL.Path)
			discardBody(w, r, earlyAnswerBytes)
			writeError(w, &Error{Status: http.StatusUnauthorized, Message: "missing or unknown token: send Authorization: Bearer <token>"})
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), keyContextKey{}, k)))
	})
}

func keyOf(r *http.Request) *Key { return r.Context().Value(keyContextKey{}).(*Key) }

// observe tells the Observer every answer's status.
func (s *Server) observe(next http.Handler) http.Handler {
	if s.cfg.Observer == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		s.cfg.Observer.Answered(rec.status)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

func methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, &Error{Status: http.StatusMethodNotAllowed, Message: r.Method + " is not allowed here; use " + allow})
	}
}
