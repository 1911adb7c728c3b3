package smtptest

import (
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// Reply is a scripted answer. A nil *Reply, or a Code below 400, accepts
// with the server's usual 2xx reply.
type Reply struct {
	// Code is the SMTP reply code, such as 421, 451, 550 or 554.
	Code int
	// Enhanced is the RFC 3463 status code, such as {5, 1, 1}. The zero
	// value sends the class default (X.0.0), or none in a greeting.
	Enhanced [3]int
	// Message is the reply text; empty selects a generic one.
	Message string
}

// rejects reports whether r refuses the command.
func (r *Reply) rejects() bool { return r != nil && r.Code >= 400 }

// err returns r as the error a go-smtp Session method returns, or nil to
// accept. It is always an *smtp.SMTPError, which go-smtp sends verbatim.
func (r *Reply) err() error {
	if !r.rejects() {
		return nil
	}
	msg := r.Message
	if msg == "" {
		msg = "Rejected by smtptest"
		if r.Code < 500 {
			msg = "Try again later (smtptest)"
		}
	}
	return &smtp.SMTPError{Code: r.Code, EnhancedCode: smtp.EnhancedCode(r.Enhanced), Message: msg}
}

// clone copies r, so a caller may reuse its value after a Set call.
func (r *Reply) clone() *Reply {
	if r == nil {
		return nil
	}
	c := *r
	return &c
}

// SetGreeting makes the server answer every new connection with r instead
// of 220 and close it, e.g. 421 (busy) or 554 (no service here). nil
// restores the normal greeting.
func (s *Server) SetGreeting(r *Reply) {
	s.mu.Lock()
	s.greeting = r.clone()
	s.mu.Unlock()
}

// SetMail sets the answer to every MAIL FROM; nil accepts. When
// Options.AuthUser is set, an unauthenticated MAIL gets 530 first.
func (s *Server) SetMail(r *Reply) {
	s.mu.Lock()
	s.mail = r.clone()
	s.mu.Unlock()
}

// SetRcpt sets the answer to RCPT TO for one address, matched exactly but
// case-insensitively; nil removes the entry. Entries take precedence over
// SetRcptFunc.
func (s *Server) SetRcpt(addr string, r *Reply) {
	key := strings.ToLower(addr)
	s.mu.Lock()
	if r == nil {
		delete(s.rcpt, key)
	} else {
		s.rcpt[key] = r.clone()
	}
	s.mu.Unlock()
}

// SetRcptFunc installs a hook that answers every RCPT TO that SetRcpt has
// no entry for; nil removes it. attempt counts the RCPTs seen for that
// address (case-insensitively) since start or Reset, from 1, so "defer the
// first try, accept the second" is attempt == 1. f runs on the session's
// goroutine and must be safe for concurrent use.
func (s *Server) SetRcptFunc(f func(addr string, attempt int) *Reply) {
	s.mu.Lock()
	s.rcptFunc = f
	s.mu.Unlock()
}

// SetData sets the answer to the final dot of DATA; nil accepts. A
// rejected message is not recorded.
func (s *Server) SetData(r *Reply) {
	s.mu.Lock()
	s.data = r.clone()
	s.mu.Unlock()
}

// SetDataDelay makes the server wait d after the final dot before it
// answers, to exercise client timeouts. Close cuts the wait short.
func (s *Server) SetDataDelay(d time.Duration) {
	s.mu.Lock()
	s.dataDelay = d
	s.mu.Unlock()
}

// OnMessage registers f to be called, on the session's goroutine, for
// every accepted message before the 250 is sent; nil removes it. It also
// runs with Options.Discard, where the Message has no Data. f must be
// safe for concurrent use and should be quick.
func (s *Server) OnMessage(f func(Message)) {
	s.mu.Lock()
	s.onMessage = f
	s.mu.Unlock()
}

func (s *Server) greetingReply() *Reply {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.greeting
}

func (s *Server) mailReply() *Reply {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.mail
}

// rcptReply decides the answer for key (the lower-cased address) on its
// attempt-th try.
func (s *Server) rcptReply(addr, key string, attempt int) *Reply {
	s.mu.RLock()
	r, ok := s.rcpt[key]
	f := s.rcptFunc
	s.mu.RUnlock()
	if ok || f == nil {
		return r
	}
	return f(addr, attempt)
}

func (s *Server) dataScript() (*Reply, time.Duration, func(Message)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.data, s.dataDelay, s.onMessage
}
