// Package ststest serves MTA-STS policies (RFC 8461) over HTTPS on
// loopback for tests: the policy host https://mta-sts.<domain>/ that
// mxout fetches /.well-known/mta-sts.txt from.
package ststest

import (
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mxout/mxout/resolver/dnstest"
)

// WellKnown is the path of the policy file.
const WellKnown = "/.well-known/mta-sts.txt"

// Server is an HTTPS server on one loopback address.
type Server struct {
	// Addr is the listening address, "ip:port".
	Addr string
	srv  *http.Server
	hits atomic.Int64
	mu   sync.Mutex
	h    http.Handler
}

// NewServer serves h over HTTPS at addr ("127.x.y.z:port") with cert,
// until the test ends. It fails the test when addr cannot be bound.
func NewServer(t testing.TB, addr string, cert tls.Certificate, h http.Handler) *Server {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("ststest: %v", err)
	}
	return Serve(t, l, cert, h)
}

// Serve is NewServer on a listener the caller bound (to skip a test that
// cannot bind port 443, say).
func Serve(t testing.TB, l net.Listener, cert tls.Certificate, h http.Handler) *Server {
	s := &Server{Addr: l.Addr().String(), h: h}
	s.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.hits.Add(1)
			s.mu.Lock()
			h := s.h
			s.mu.Unlock()
			h.ServeHTTP(w, r)
		}),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}},
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0), // refused certificates are what some tests are about
	}
	go s.srv.ServeTLS(l, "", "")
	t.Cleanup(func() { s.srv.Close() })
	return s
}

// Set replaces the handler.
func (s *Server) Set(h http.Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.h = h
}

// Publish makes s the policy host of domain in zone: the A record of
// mta-sts.<domain> is s's address and, unless id is "", the _mta-sts TXT
// record is "v=STSv1; id=<id>;". It returns s.
func (s *Server) Publish(zone *dnstest.Server, domain, id string) *Server {
	ip, _, _ := net.SplitHostPort(s.Addr)
	zone.Set("mta-sts."+domain, dnstest.Record{Type: "A", Value: ip})
	if id != "" {
		zone.Set("_mta-sts."+domain, dnstest.Record{Type: "TXT", Value: `"v=STSv1; id=` + id + `;"`})
	}
	return s
}

// Hits is how many requests the server got.
func (s *Server) Hits() int64 { return s.hits.Load() }

// Policy serves text as the policy file (text/plain) at WellKnown, 404
// elsewhere; empty text answers 503, a policy host that is down.
func Policy(text string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		switch {
		case text == "":
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		case r.URL.Path != WellKnown:
			http.NotFound(w, r)
		default:
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			io.WriteString(w, text)
		}
	}
}
