package smtptest

import (
	"bytes"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Message is one message the server accepted.
type Message struct {
	// From is the MAIL FROM address, "" for the null sender.
	From string
	// To lists the accepted RCPT TO addresses in order; rejected ones are
	// not in it.
	To []string
	// Data is the message as received after dot-unstuffing, with CRLF
	// line ends; nil with Options.Discard.
	Data []byte
	// TLS reports whether the message came over TLS (STARTTLS or implicit).
	TLS bool
	// AuthUser is the authenticated user, "" without AUTH.
	AuthUser string
	// MailOpts holds the MAIL parameters (RET, ENVID, SIZE, BODY, ...).
	MailOpts *smtp.MailOptions
	// RcptOpts holds the RCPT parameters (NOTIFY, ORCPT) of each accepted
	// recipient, keyed as in To; nil if none was sent.
	RcptOpts map[string]*smtp.RcptOptions
	// RemoteAddr is the client's "ip:port".
	RemoteAddr string
	// Received is when the final dot was accepted.
	Received time.Time
}

// clone copies m deeply enough that the caller may modify the result.
func (m Message) clone() Message {
	m.To = slices.Clone(m.To)
	m.Data = bytes.Clone(m.Data)
	if m.MailOpts != nil {
		o := *m.MailOpts
		m.MailOpts = &o
	}
	m.RcptOpts = maps.Clone(m.RcptOpts)
	return m
}

// Messages returns copies of the accepted messages in arrival order.
func (s *Server) Messages() []Message {
	s.recMu.Lock()
	defer s.recMu.Unlock()
	out := make([]Message, len(s.messages))
	for i, m := range s.messages {
		out[i] = m.clone()
	}
	return out
}

// MessageCount returns how many messages were accepted since start or
// Reset; unlike len(Messages()) it also counts with Options.Discard.
func (s *Server) MessageCount() int {
	s.recMu.Lock()
	defer s.recMu.Unlock()
	return s.count
}

// WaitMessages waits until at least n messages have been accepted and
// returns Messages (empty with Options.Discard). It fails the test if
// that takes longer than timeout.
func (s *Server) WaitMessages(t testing.TB, n int, timeout time.Duration) []Message {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		s.recMu.Lock()
		count := s.count
		if count >= n {
			s.recMu.Unlock()
			return s.Messages()
		}
		if s.notify == nil {
			s.notify = make(chan struct{})
		}
		ch := s.notify
		s.recMu.Unlock()
		select {
		case <-ch:
		case <-timer.C:
			t.Fatalf("smtptest: %s: waited %v for %d message(s), got %d (connections %d, rcpt attempts %d)",
				s.Addr(), timeout, n, count, s.Connections(), s.totalRcptAttempts())
			return nil
		}
	}
}

// RcptAttempts returns how many RCPT TO commands named addr
// (case-insensitively), accepted or not, since start or Reset.
func (s *Server) RcptAttempts(addr string) int {
	s.recMu.Lock()
	defer s.recMu.Unlock()
	return s.attempts[strings.ToLower(addr)]
}

// Connections returns how many TCP connections were accepted since start
// or Reset, including those refused by SetGreeting.
func (s *Server) Connections() int { return int(s.connections.Load()) }

// Active returns how many connections are open now.
func (s *Server) Active() int { return int(s.active.Load()) }

// MaxConcurrent returns the peak number of connections open at once since
// start or Reset.
func (s *Server) MaxConcurrent() int { return int(s.maxActive.Load()) }

// AuthAttempts returns how many AUTH commands clients sent since start or
// Reset, whatever their outcome.
func (s *Server) AuthAttempts() int { return int(s.authAttempts.Load()) }

// Handshakes returns how many TLS handshakes (STARTTLS or implicit)
// clients completed and then greeted with EHLO/HELO, since start or Reset.
// A client that rejects the certificate aborts the handshake and is not
// counted.
func (s *Server) Handshakes() int { return int(s.handshakes.Load()) }

// Reset clears the recorded messages, RCPT attempts, reads and counters
// (the octets of hostile replies too). The script (Set*, OnMessage) and
// open connections are kept; MaxConcurrent restarts from the connections
// open now.
func (s *Server) Reset() {
	s.recMu.Lock()
	s.messages = nil
	s.count = 0
	clear(s.attempts)
	for _, log := range s.reads {
		log.reads = nil
	}
	s.recMu.Unlock()
	s.connections.Store(0)
	s.handshakes.Store(0)
	s.hostileSent.Store(0)
	s.authAttempts.Store(0)
	s.maxActive.Store(s.active.Load())
}

// countRcpt records one RCPT attempt for key and returns its number.
func (s *Server) countRcpt(key string) int {
	s.recMu.Lock()
	defer s.recMu.Unlock()
	s.attempts[key]++
	return s.attempts[key]
}

// record stores m (unless discarding) and wakes WaitMessages.
func (s *Server) record(m Message) {
	s.recMu.Lock()
	defer s.recMu.Unlock()
	if !s.opts.Discard {
		s.messages = append(s.messages, m)
	}
	s.count++
	if s.notify != nil {
		close(s.notify)
		s.notify = nil
	}
}

func (s *Server) totalRcptAttempts() int {
	s.recMu.Lock()
	defer s.recMu.Unlock()
	n := 0
	for _, v := range s.attempts {
		n += v
	}
	return n
}
