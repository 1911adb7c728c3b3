package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/mxout/mxout/queue"
)

// Queue is what the API needs from the queue.
type Queue interface {
	// Get returns a stored message, or an error wrapping queue.ErrNotFound.
	Get(id queue.ID) (*queue.Message, error)
	// ListPage returns one page of a listing, reading no bodies.
	ListPage(opts queue.ListOptions) (queue.Page, error)
	// StateOf names a message's state: held, inflight, deferred or ready.
	StateOf(m *queue.Message) string
	// Headers returns a message's header section.
	Headers(id queue.ID) ([]byte, error)
	// Body returns a message's body (for a bounce).
	Body(id queue.ID) ([]byte, error)
	// Stats counts the queue by state, exactly.
	Stats() queue.Stats
	// Hold, Release, Retry and Delete change one message durably, or fail
	// with queue.ErrLeased while a delivery holds it.
	Hold(id queue.ID) error
	Release(id queue.ID) error
	Retry(id queue.ID) error
	Delete(id queue.ID) error
	// Flush makes every deferred message due now and counts them.
	Flush() (int, error)
}

// Bouncer sends the envelope sender a failure report (DSN) for a message
// that an operator deletes. It must have queued the report durably before
// it returns nil; it decides itself whether a message gets no report (a
// null sender, NOTIFY=NEVER).
type Bouncer interface {
	BounceDeleted(ctx context.Context, m *queue.Message, body []byte) error
}

// Destinations is the delivery side's memory of failing destinations; a
// flush clears it so that dead destinations are tried again at once.
type Destinations interface {
	ReviveDestinations() int
}

// Config configures a Server. cmd/mxout fills it from configs.
type Config struct {
	// Token, when set, is required on every request as "Authorization:
	// Bearer <token>", and then allows everything. Without it, a unix
	// socket allows everything and TCP listeners reads only (guard.go),
	// and Serve refuses a non-loopback TCP listener.
	Token string
	// Names are the host names, besides localhost and the address a
	// request came in on, that its Host header may carry: the relay's
	// hostname and the host of admin.listen.
	Names []string
	// Bouncer sends reports for delete?bounce=true; nil answers 501.
	Bouncer Bouncer
	// Destinations, when set, is revived by every flush.
	Destinations Destinations
	// MTASTS, when set, is read by GET /v1/tls/mta-sts/{domain} (mxout
	// tls check); nil answers 501.
	MTASTS MTASTSCache
	// MaxScan bounds the message records one listing request reads; 0
	// means DefaultMaxScan.
	MaxScan int
	Logger  *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DefaultMaxScan keeps one listing request in the tens of milliseconds.
const DefaultMaxScan = 10000

// maxLimit caps a page; a script pages through more.
const maxLimit = 1000

// ErrNotLoopback is returned by Serve for a listener that is reachable
// from other hosts when no token is configured.
var ErrNotLoopback = errors.New("admin: refusing to serve on a non-loopback address without admin.token")

// Server serves the API. Build it with New.
type Server struct {
	cfg  Config
	q    Queue
	log  *slog.Logger
	http *http.Server
}

// New builds a Server over q.
func New(cfg Config, q Queue) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxScan <= 0 {
		cfg.MaxScan = DefaultMaxScan
	}
	s := &Server{cfg: cfg, q: q, log: cfg.Logger}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/stats", s.stats)
	mux.HandleFunc("GET /v1/messages", s.list)
	mux.HandleFunc("GET /v1/messages/{id}", s.show)
	mux.HandleFunc("POST /v1/messages/{id}/hold", s.change("held", q.Hold))
	mux.HandleFunc("POST /v1/messages/{id}/release", s.change("released", q.Release))
	mux.HandleFunc("POST /v1/messages/{id}/retry", s.change("retried", q.Retry))
	mux.HandleFunc("DELETE /v1/messages/{id}", s.delete)
	mux.HandleFunc("POST /v1/flush", s.flush)
	mux.HandleFunc("GET /v1/tls/mta-sts/{domain}", s.mtastsPolicy)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Errorf("no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	s.http = &http.Server{
		Handler:           s.guard(mux),
		ConnContext:       connContext,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// A flush of a large queue takes a while; the client waits for it.
		WriteTimeout: 10 * time.Minute,
	}
	return s
}

// Serve answers requests on l until Shutdown; it returns nil after
// Shutdown. It may be called for several listeners: a TCP one and a unix
// socket, which serves everything to whoever can open it. Without a token
// it refuses (ErrNotLoopback) a TCP listener that is not on a loopback
// address.
func (s *Server) Serve(l net.Listener) error {
	if s.cfg.Token == "" && l.Addr().Network() != "unix" && !IsLoopback(l.Addr()) {
		l.Close()
		return fmt.Errorf("%w (listening on %s)", ErrNotLoopback, l.Addr())
	}
	if err := s.http.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("admin server: %w", err)
	}
	return nil
}

// Shutdown stops the server, waiting for open requests until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.http.Shutdown(ctx)
}

// IsLoopback reports whether a listening address is reachable only from
// this host: a loopback IP (an unspecified one such as 0.0.0.0 is not).
func IsLoopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}
