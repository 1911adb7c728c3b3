package smtptest

import (
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/mxout/mxout/internal/testcert"
)

// Defaults for the zero Options.
const (
	DefaultAddr     = "127.0.0.1:0"
	DefaultHostname = "mx.smtptest.invalid"
)

// ioTimeout bounds every read and write of a session, so that a client
// that stalls cannot hold a test open forever.
const ioTimeout = 30 * time.Second

// Options configures a Server. The zero value is a plain-text server on
// 127.0.0.1 with an ephemeral port that accepts everything.
type Options struct {
	// Addr is the loopback address to listen on, such as "127.0.0.11:0"
	// or "127.0.0.11:2626". Any 127.x.y.z works on Linux. Default
	// DefaultAddr. A non-loopback address fails the test.
	Addr string
	// Hostname is the domain in the greeting and an extra DNS name in the
	// certificate. Default DefaultHostname.
	Hostname string
	// TLS offers STARTTLS with a self-signed certificate generated in
	// process (see CertPEM).
	TLS bool
	// Certificate, when set, is the certificate presented instead of a
	// generated one (one a test CA issued, or whose key a TLSA record
	// names). It implies TLS.
	Certificate *tls.Certificate
	// Implicit makes every connection TLS from the first byte (the port
	// 465 style) instead of offering STARTTLS. It implies TLS.
	Implicit bool
	// BrokenTLS offers STARTTLS, but every handshake fails (the server
	// only speaks TLS 1.0, which clients refuse), as on a misconfigured
	// MX. It implies TLS.
	BrokenTLS bool
	// AuthUser and AuthPassword, when AuthUser is set, offer AUTH PLAIN
	// and LOGIN (also without TLS) and answer MAIL with 530 5.7.0 until
	// the client has authenticated.
	AuthUser, AuthPassword string
	// DSN advertises the DSN extension (RFC 3461), so clients send
	// RET/ENVID/NOTIFY/ORCPT, which are recorded in Message.
	DSN bool
	// SMTPUTF8 advertises SMTPUTF8 (RFC 6531), as large mailbox providers
	// do.
	SMTPUTF8 bool
	// No8BitMIME leaves 8BITMIME (RFC 6152) out of the EHLO reply, as an
	// old 7-bit-only server would; go-smtp advertises it always. Only for
	// plaintext sessions: the reply is edited on the socket, below TLS.
	No8BitMIME bool
	// NoPipelining leaves PIPELINING (RFC 2920) out of the EHLO reply, so
	// that clients send one command at a time; go-smtp advertises it
	// always. Only for plaintext sessions, like No8BitMIME.
	NoPipelining bool
	// CoalesceReplies holds the server's replies until it reads from the
	// client again, so that the replies to pipelined commands go out in
	// one write, as Postfix's smtpd sends them. Only for plaintext
	// sessions.
	CoalesceReplies bool
	// DataWithoutRecipients answers DATA with 354 although no RCPT was
	// accepted, as RFC 2920 §3.1 warns a server may. Only the reply is
	// changed (on the socket, so only for plaintext sessions): go-smtp
	// still refuses that DATA and reads what follows as commands, so a
	// client that sends a lone dot, as the RFC asks, gets one 5xx reply
	// to it and stays in step; a message sent instead would draw a reply
	// per line.
	DataWithoutRecipients bool
	// RecordReads keeps what every read from a client returned, for
	// Reads: how the client's commands arrived. Only for plaintext
	// sessions.
	RecordReads bool
	// IdleTimeout ends a session in which the client sends nothing for
	// that long with "421 4.4.2 Idle timeout", as servers end idle
	// connections; 0 means 30s.
	IdleTimeout time.Duration
	// MaxMessageBytes, if positive, is advertised with SIZE and enforced
	// with 552.
	MaxMessageBytes int64
	// Discard keeps only counters and the OnMessage callback: Messages
	// stays empty and Message.Data is nil. For benchmarks.
	Discard bool
	// Debug, if set, receives the protocol trace and go-smtp's error log,
	// which are silent otherwise.
	Debug io.Writer
}

// Server is a scripted destination SMTP server listening on loopback.
// Its methods are safe for concurrent use.
type Server struct {
	t       testing.TB // nil for a server from Start
	opts    Options
	srv     *smtp.Server
	ln      *listener
	tlsConf *tls.Config
	certPEM []byte
	done    chan struct{} // closed by Close
	served  chan struct{} // closed when Serve returns

	// closeMu orders handler entry against Close, so that Close can wait
	// for running handlers (and OnMessage callbacks) with calls.
	closeMu sync.RWMutex
	closed  bool
	calls   sync.WaitGroup

	mu        sync.RWMutex // guards the script below
	greeting  *Reply
	mail      *Reply
	data      *Reply
	rcpt      map[string]*Reply
	rcptFunc  func(addr string, attempt int) *Reply
	dataDelay time.Duration
	onMessage func(Message)
	hostile   *Hostile

	recMu    sync.Mutex // guards the recordings below
	messages []Message
	reads    []*readLog // per connection, with Options.RecordReads
	count    int
	attempts map[string]int
	notify   chan struct{} // closed on the next message; nil without waiters

	hostileSent  atomic.Int64
	authAttempts atomic.Int64
	connections  atomic.Int64
	handshakes   atomic.Int64
	active       atomic.Int64
	maxActive    atomic.Int64
}

// NewServer starts a Server as opts describes and stops it when the test
// ends. It fails the test if it cannot listen.
func NewServer(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := Start(opts)
	if err != nil {
		t.Fatalf("smtptest: %v", err)
	}
	s.t = t
	t.Cleanup(s.Close)
	return s
}

// Start is NewServer outside a test, for load tools such as
// cmd/mxout-bench: it returns an error instead of failing a test, and the
// caller must Close the server.
func Start(opts Options) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = DefaultAddr
	}
	if opts.Hostname == "" {
		opts.Hostname = DefaultHostname
	}
	if opts.Implicit || opts.BrokenTLS || opts.Certificate != nil {
		opts.TLS = true
	}
	if opts.TLS && (opts.No8BitMIME || opts.NoPipelining || opts.CoalesceReplies || opts.DataWithoutRecipients || opts.RecordReads) {
		return nil, errors.New("smtptest: No8BitMIME, NoPipelining, CoalesceReplies, DataWithoutRecipients and RecordReads work only without TLS")
	}
	host, _, err := net.SplitHostPort(opts.Addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("address %q is not a loopback ip:port", opts.Addr)
	}
	inner, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", opts.Addr, err)
	}
	s := &Server{
		opts:     opts,
		done:     make(chan struct{}),
		served:   make(chan struct{}),
		rcpt:     make(map[string]*Reply),
		attempts: make(map[string]int),
	}
	addr := inner.Addr().(*net.TCPAddr)
	if opts.Certificate != nil {
		s.tlsConf = &tls.Config{Certificates: []tls.Certificate{*opts.Certificate}}
		for _, der := range opts.Certificate.Certificate {
			s.certPEM = append(s.certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
		}
	} else if opts.TLS {
		// "localhost", the listening address and the MX host name.
		hosts := []string{"localhost", addr.IP.String()}
		if opts.Hostname != "localhost" {
			hosts = append(hosts, opts.Hostname)
		}
		pair, err := testcert.New("localhost", hosts...)
		if err != nil {
			inner.Close()
			return nil, err
		}
		s.certPEM = pair.CertPEM
		s.tlsConf = &tls.Config{Certificates: []tls.Certificate{pair.TLS}}
		if opts.BrokenTLS {
			s.tlsConf.MinVersion, s.tlsConf.MaxVersion = tls.VersionTLS10, tls.VersionTLS10
		}
	}
	s.ln = newListener(s, inner, addr)
	s.srv = s.newSMTPServer()
	go func() {
		defer close(s.served)
		_ = s.srv.Serve(s.ln) // returns nil once Close has run
	}()
	return s, nil
}

func (s *Server) newSMTPServer() *smtp.Server {
	srv := smtp.NewServer(backend{s})
	srv.Domain = s.opts.Hostname
	srv.ReadTimeout = ioTimeout
	if s.opts.IdleTimeout > 0 {
		srv.ReadTimeout = s.opts.IdleTimeout
	}
	srv.WriteTimeout = ioTimeout
	srv.MaxMessageBytes = s.opts.MaxMessageBytes
	srv.EnableDSN = s.opts.DSN
	srv.EnableSMTPUTF8 = s.opts.SMTPUTF8
	srv.AllowInsecureAuth = true
	if s.opts.TLS && !s.opts.Implicit {
		srv.TLSConfig = s.tlsConf
	}
	srv.ErrorLog = log.New(io.Discard, "", 0)
	if s.opts.Debug != nil {
		srv.Debug = s.opts.Debug
		srv.ErrorLog = log.New(s.opts.Debug, "smtptest: ", log.LstdFlags)
	}
	return srv
}

// Addr returns the listening address as "ip:port".
func (s *Server) Addr() string { return s.ln.addr.String() }

// Port returns the listening port.
func (s *Server) Port() int { return s.ln.addr.Port }

// Host returns the listening IP address as a string.
func (s *Server) Host() string { return s.ln.addr.IP.String() }

// CertPEM returns the PEM-encoded certificate the server presents (its
// chain, for Options.Certificate), or nil without Options.TLS. A client trusts it with
// x509.CertPool.AppendCertsFromPEM. It is valid for "localhost", the
// listen IP and Options.Hostname.
func (s *Server) CertPEM() []byte { return append([]byte(nil), s.certPEM...) }

// Down closes the listener, so new connections are refused, and drops
// every open connection, as if the host had crashed. Up listens again on
// the same address and port.
func (s *Server) Down() { s.ln.down() }

// Up undoes Down. It returns an error, and fails the test of a server
// from NewServer, if the port cannot be bound again within a few seconds.
func (s *Server) Up() error {
	if err := s.ln.up(); err != nil {
		err = fmt.Errorf("smtptest: up %s: %w", s.Addr(), err)
		if s.t != nil {
			s.t.Errorf("%v", err)
		}
		return err
	}
	return nil
}

// Close stops the server, drops every connection and waits for running
// handlers to return. It is called automatically when the test ends;
// calling it more than once is fine.
func (s *Server) Close() {
	s.closeMu.Lock()
	already := s.closed
	s.closed = true
	s.closeMu.Unlock()
	if already {
		return
	}
	close(s.done)
	_ = s.srv.Close()
	s.ln.Close()
	<-s.served
	s.calls.Wait()
}

// enter registers a running handler; it reports false once Close has
// begun. Every true must be paired with s.calls.Done.
func (s *Server) enter() bool {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return false
	}
	s.calls.Add(1)
	return true
}

// sleep waits for d or until Close, whichever is first.
func (s *Server) sleep(d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.done:
	}
}
