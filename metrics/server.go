package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server serves /metrics, /healthz, /readyz and, when asked, /debug/pprof/.
type Server struct {
	http *http.Server
}

// ServerOptions tunes the endpoints a Server offers.
type ServerOptions struct {
	// Pprof serves Go's profiler (net/http/pprof) under /debug/pprof/.
	// It shows goroutine stacks and the command line, so it is off unless
	// the operator turns it on (metrics.pprof).
	Pprof bool
}

// NewServer builds the HTTP server. ready reports why the relay cannot
// take mail (nil when it can); /readyz answers 503 with that reason.
func NewServer(g prometheus.Gatherer, ready func() error, o ServerOptions) *Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	if o.Pprof {
		// The handlers are mounted on this mux explicitly; importing
		// net/http/pprof also registers them on http.DefaultServeMux,
		// which mxout never serves.
		mux.HandleFunc("GET /debug/pprof/", pprof.Index) // named profiles too: /debug/pprof/heap
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	// WriteTimeout stays unset: /debug/pprof/profile and trace stream for
	// as long as the client asks (?seconds=N).
	return &Server{http: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
}

// Serve answers requests on l until Shutdown; it returns nil after Shutdown.
func (s *Server) Serve(l net.Listener) error {
	if err := s.http.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics server: %w", err)
	}
	return nil
}

// Shutdown stops the server, waiting for open requests until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.http.Shutdown(ctx)
}
