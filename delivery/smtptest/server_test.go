package smtptest_test

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/internal/testwait"
)

const body = "From: a@example.org\r\nTo: b@example.net\r\nSubject: hi\r\n\r\nhello\r\n"

// dial connects a go-smtp client that the test closes when it ends.
func dial(t *testing.T, addr string) *smtp.Client {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	c.CommandTimeout = 5 * time.Second
	c.SubmissionTimeout = 5 * time.Second
	t.Cleanup(func() { c.Close() })
	return c
}

// send runs one transaction and returns the first error, with the
// recipients' errors in rcptErrs.
func send(c *smtp.Client, from string, to []string) (rcptErrs []error, err error) {
	if err := c.Mail(from, nil); err != nil {
		return nil, err
	}
	ok := 0
	for _, rcpt := range to {
		err := c.Rcpt(rcpt, nil)
		rcptErrs = append(rcptErrs, err)
		if err == nil {
			ok++
		}
	}
	if ok == 0 {
		return rcptErrs, errors.New("no recipient accepted")
	}
	w, err := c.Data()
	if err != nil {
		return rcptErrs, err
	}
	if _, err := w.Write([]byte(body)); err != nil {
		return rcptErrs, err
	}
	return rcptErrs, w.Close()
}

// wantCode fails unless err is an *smtp.SMTPError with code and enhanced.
func wantCode(t *testing.T, err error, code int, enhanced smtp.EnhancedCode) {
	t.Helper()
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		t.Fatalf("got %v, want SMTP error %d", err, code)
	}
	if se.Code != code || se.EnhancedCode != enhanced {
		t.Fatalf("got %d %v %q, want %d %v", se.Code, se.EnhancedCode, se.Message, code, enhanced)
	}
}

func TestAcceptRecordsMessage(t *testing.T) {
	t.Parallel()
	s := smtptest.NewServer(t, smtptest.Options{})
	c := dial(t, s.Addr())
	if _, err := send(c, "a@example.org", []string{"b@example.net", "C@example.net"}); err != nil {
		t.Fatal(err)
	}
	msgs := s.WaitMessages(t, 1, 5*time.Second)
	m := msgs[0]
	if m.From != "a@example.org" || strings.Join(m.To, ",") != "b@example.net,C@example.net" {
		t.Errorf("envelope %q -> %q", m.From, m.To)
	}
	if string(m.Data) != body {
		t.Errorf("data %q, want %q", m.Data, body)
	}
	if m.TLS || m.AuthUser != "" || m.RemoteAddr == "" || m.Received.IsZero() {
		t.Errorf("unexpected metadata %+v", m)
	}
	if got := s.RcptAttempts("c@EXAMPLE.net"); got != 1 {
		t.Errorf("RcptAttempts = %d, want 1 (case-insensitive)", got)
	}
	if s.Connections() != 1 || s.MessageCount() != 1 {
		t.Errorf("connections %d, count %d", s.Connections(), s.MessageCount())
	}
	msgs[0].To[0] = "changed"
	if s.Messages()[0].To[0] != "b@example.net" {
		t.Error("Messages does not return copies")
	}
	s.Reset()
	if len(s.Messages()) != 0 || s.RcptAttempts("b@example.net") != 0 || s.Connections() != 0 {
		t.Error("Reset left recordings")
	}
}

func TestRcptReplies(t *testing.T) {
	t.Parallel()
	s := smtptest.NewServer(t, smtptest.Options{})
	s.SetRcpt("Unknown@example.net", &smtptest.Reply{Code: 550, Enhanced: [3]int{5, 1, 1}, Message: "No such user"})
	s.SetRcpt("full@example.net", &smtptest.Reply{Code: 451, Enhanced: [3]int{4, 2, 2}})
	s.SetRcptFunc(func(addr string, attempt int) *smtptest.Reply {
		if addr == "greylist@example.net" && attempt == 1 {
			return &smtptest.Reply{Code: 450, Enhanced: [3]int{4, 7, 1}}
		}
		return nil
	})
	c := dial(t, s.Addr())
	to := []string{"ok@example.net", "unknown@example.net", "full@example.net", "greylist@example.net"}
	errs, err := send(c, "a@example.org", to)
	if err != nil {
		t.Fatal(err)
	}
	if errs[0] != nil {
		t.Errorf("ok: %v", errs[0])
	}
	wantCode(t, errs[1], 550, smtp.EnhancedCode{5, 1, 1})
	wantCode(t, errs[2], 451, smtp.EnhancedCode{4, 2, 2})
	wantCode(t, errs[3], 450, smtp.EnhancedCode{4, 7, 1})

	// The greylisted address gets in on its second attempt.
	if _, err := send(c, "a@example.org", []string{"greylist@example.net"}); err != nil {
		t.Fatalf("second attempt: %v", err)
	}
	msgs := s.WaitMessages(t, 2, 5*time.Second)
	if got := strings.Join(msgs[0].To, ","); got != "ok@example.net" {
		t.Errorf("first message to %q", got)
	}
	if got := s.RcptAttempts("greylist@example.net"); got != 2 {
		t.Errorf("greylist attempts %d, want 2", got)
	}
}

func TestRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(*smtptest.Server)
		code  int
		enh   smtp.EnhancedCode
	}{
		{"mail 421", func(s *smtptest.Server) { s.SetMail(&smtptest.Reply{Code: 421, Enhanced: [3]int{4, 3, 2}}) }, 421, smtp.EnhancedCode{4, 3, 2}},
		{"data 554", func(s *smtptest.Server) {
			s.SetData(&smtptest.Reply{Code: 554, Enhanced: [3]int{5, 6, 0}, Message: "spam"})
		}, 554, smtp.EnhancedCode{5, 6, 0}},
		{"data 451 default text", func(s *smtptest.Server) { s.SetData(&smtptest.Reply{Code: 451}) }, 451, smtp.EnhancedCode{4, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := smtptest.NewServer(t, smtptest.Options{})
			tt.setup(s)
			_, err := send(dial(t, s.Addr()), "a@example.org", []string{"b@example.net"})
			wantCode(t, err, tt.code, tt.enh)
			if n := s.MessageCount(); n != 0 {
				t.Errorf("rejected message recorded (%d)", n)
			}
		})
	}
}

func TestGreetingReject(t *testing.T) {
	t.Parallel()
	s := smtptest.NewServer(t, smtptest.Options{})
	s.SetGreeting(&smtptest.Reply{Code: 421, Enhanced: [3]int{4, 3, 2}, Message: "busy"})
	err := dial(t, s.Addr()).Hello("client.example.org")
	wantCode(t, err, 421, smtp.EnhancedCode{4, 3, 2})

	s.SetGreeting(nil)
	if err := dial(t, s.Addr()).Hello("client.example.org"); err != nil {
		t.Fatalf("after SetGreeting(nil): %v", err)
	}
	if s.Connections() != 2 {
		t.Errorf("connections %d, want 2", s.Connections())
	}
}

func TestDownUp(t *testing.T) {
	t.Parallel()
	s := smtptest.NewServer(t, smtptest.Options{})
	addr := s.Addr()
	open := dial(t, addr)
	if err := open.Hello("client.example.org"); err != nil {
		t.Fatal(err)
	}
	s.Down()
	if _, err := net.DialTimeout("tcp", addr, 2*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial while down: %v, want connection refused", err)
	}
	if err := open.Noop(); err == nil {
		t.Error("connection open before Down still works")
	}
	s.Up()
	if s.Addr() != addr {
		t.Fatalf("address changed %s -> %s", addr, s.Addr())
	}
	if _, err := send(dial(t, addr), "a@example.org", []string{"b@example.net"}); err != nil {
		t.Fatalf("after Up: %v", err)
	}
	s.WaitMessages(t, 1, 5*time.Second)
}

func TestMaxConcurrent(t *testing.T) {
	t.Parallel()
	s := smtptest.NewServer(t, smtptest.Options{})
	var clients []*smtp.Client
	for range 3 {
		c := dial(t, s.Addr())
		if err := c.Hello("client.example.org"); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	if s.Active() != 3 || s.MaxConcurrent() != 3 {
		t.Fatalf("active %d, max %d, want 3, 3", s.Active(), s.MaxConcurrent())
	}
	for _, c := range clients {
		if err := c.Quit(); err != nil {
			t.Fatal(err)
		}
	}
	testwait.For(t, 5*time.Second, "the condition", func() bool { return s.Active() == 0 })
	if s.MaxConcurrent() != 3 || s.Connections() != 3 {
		t.Errorf("after quit: max %d, connections %d", s.MaxConcurrent(), s.Connections())
	}
	s.Reset()
	if s.MaxConcurrent() != 0 {
		t.Errorf("after Reset: max %d", s.MaxConcurrent())
	}
}

func TestSamePortTwoAddresses(t *testing.T) {
	t.Parallel()
	a := smtptest.NewServer(t, smtptest.Options{Addr: "127.0.0.11:0", Hostname: "mx-a.example.net"})
	b := smtptest.NewServer(t, smtptest.Options{Addr: "127.0.0.12:" + strconv.Itoa(a.Port()), Hostname: "mx-b.example.net"})
	if a.Port() != b.Port() || a.Addr() == b.Addr() {
		t.Fatalf("addresses %s and %s", a.Addr(), b.Addr())
	}
	for _, s := range []*smtptest.Server{a, b} {
		if _, err := send(dial(t, s.Addr()), "a@example.org", []string{"b@example.net"}); err != nil {
			t.Fatalf("%s: %v", s.Addr(), err)
		}
		s.WaitMessages(t, 1, 5*time.Second)
	}
}

func TestDiscardAndOnMessage(t *testing.T) {
	t.Parallel()
	s := smtptest.NewServer(t, smtptest.Options{Discard: true})
	var n atomic.Int64
	s.OnMessage(func(m smtptest.Message) {
		if m.Data == nil && len(m.To) == 1 {
			n.Add(1)
		}
	})
	c := dial(t, s.Addr())
	for range 5 {
		if _, err := send(c, "a@example.org", []string{"b@example.net"}); err != nil {
			t.Fatal(err)
		}
	}
	if msgs := s.WaitMessages(t, 5, 5*time.Second); len(msgs) != 0 {
		t.Errorf("Discard recorded %d messages", len(msgs))
	}
	if n.Load() != 5 || s.MessageCount() != 5 {
		t.Errorf("OnMessage saw %d, count %d, want 5", n.Load(), s.MessageCount())
	}
}

func TestDataDelay(t *testing.T) {
	t.Parallel()
	s := smtptest.NewServer(t, smtptest.Options{})
	s.SetDataDelay(150 * time.Millisecond)
	start := time.Now()
	if _, err := send(dial(t, s.Addr()), "a@example.org", []string{"b@example.net"}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("answered after %v, want >= 150ms", d)
	}
}

func TestDSNParams(t *testing.T) {
	t.Parallel()
	s := smtptest.NewServer(t, smtptest.Options{DSN: true})
	c := dial(t, s.Addr())
	if err := c.Mail("a@example.org", &smtp.MailOptions{Return: smtp.DSNReturnHeaders, EnvelopeID: "env-1"}); err != nil {
		t.Fatal(err)
	}
	rcpt := &smtp.RcptOptions{Notify: []smtp.DSNNotify{smtp.DSNNotifyFailure, smtp.DSNNotifyDelayed},
		OriginalRecipientType: smtp.DSNAddressTypeRFC822, OriginalRecipient: "orig@example.net"}
	if err := c.Rcpt("b@example.net", rcpt); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(body))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	m := s.WaitMessages(t, 1, 5*time.Second)[0]
	if m.MailOpts == nil || m.MailOpts.Return != smtp.DSNReturnHeaders || m.MailOpts.EnvelopeID != "env-1" {
		t.Errorf("mail opts %+v", m.MailOpts)
	}
	ro := m.RcptOpts["b@example.net"]
	if ro == nil || len(ro.Notify) != 2 || ro.OriginalRecipient != "orig@example.net" {
		t.Errorf("rcpt opts %+v", ro)
	}
}

func TestWaitMessagesTimeoutFails(t *testing.T) {
	t.Parallel()
	s := smtptest.NewServer(t, smtptest.Options{})
	ft := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.WaitMessages(ft, 1, 50*time.Millisecond)
	}()
	<-done
	if !strings.Contains(ft.msg, "waited 50ms for 1 message(s), got 0") {
		t.Errorf("failure message %q", ft.msg)
	}
}

// fatalTB records Fatalf and stops the goroutine, as testing.T would.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestStart_OutsideATest(t *testing.T) {
	t.Parallel()
	if _, err := smtptest.Start(smtptest.Options{Addr: "192.0.2.1:0"}); err == nil {
		t.Fatal("Start on a non-loopback address succeeded")
	}
	s, err := smtptest.Start(smtptest.Options{Discard: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Down()
	if err := s.Up(); err != nil {
		t.Fatalf("Up: %v", err)
	}
	if _, err := send(dial(t, s.Addr()), "a@example.org", []string{"b@example.net"}); err != nil {
		t.Fatal(err)
	}
	if n := s.MessageCount(); n != 1 {
		t.Errorf("MessageCount = %d, want 1", n)
	}
	s.Close()
	if _, err := net.DialTimeout("tcp", s.Addr(), 2*time.Second); err == nil {
		t.Error("dial after Close succeeded")
	}
}
