package sendmail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/internal/testnet"
)

func testMessage() *Message {
	return &Message{From: "app@example.test", To: []string{"a@x.example", "b@x.example"}, Data: []byte("Subject: t\r\n\r\n.dot\r\nbody\r\n")}
}

func trusting(t *testing.T, s *smtptest.Server) *tls.Config {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.CertPEM()) {
		t.Fatal("bad test certificate")
	}
	return &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
}

func TestSubmit_DeliversOverEachListenerKind(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts smtptest.Options
		tls  configs.TLSMode
		auth bool
	}{
		{name: "plaintext, trusted loopback", opts: smtptest.Options{}, tls: configs.TLSNone},
		{name: "STARTTLS with AUTH", opts: smtptest.Options{TLS: true, AuthUser: "cron", AuthPassword: "s3cret"}, tls: configs.TLSStartTLS, auth: true},
		{name: "implicit TLS", opts: smtptest.Options{Implicit: true}, tls: configs.TLSImplicit},
		{name: "DSN options pass through", opts: smtptest.Options{DSN: true}, tls: configs.TLSNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := smtptest.NewServer(t, tt.opts)
			r := Relay{Address: s.Addr(), TLS: tt.tls, HeloName: "client.example.test", Timeout: 5 * time.Second}
			if tt.tls != configs.TLSNone {
				r.TLSConfig = trusting(t, s)
			}
			if tt.auth {
				r.Username, r.Password = "cron", "s3cret"
			}
			m := testMessage()
			if tt.opts.DSN {
				m.Notify, m.Return, m.EnvelopeID = []string{"SUCCESS", "FAILURE"}, "HDRS", "env-7"
			}
			res, err := Submit(context.Background(), r, m)
			if err != nil {
				t.Fatal(err)
			}
			if res.Reply == "" {
				t.Error("no reply text")
			}
			got := s.WaitMessages(t, 1, 5*time.Second)[0]
			if string(got.Data) != string(m.Data) || got.From != m.From || strings.Join(got.To, ",") != "a@x.example,b@x.example" {
				t.Errorf("received %q from %q to %v", got.Data, got.From, got.To)
			}
			if got.TLS != (tt.tls != configs.TLSNone) || (got.AuthUser == "cron") != tt.auth {
				t.Errorf("TLS %v, AUTH %q", got.TLS, got.AuthUser)
			}
			if tt.opts.DSN {
				if got.MailOpts.Return != "HDRS" || got.MailOpts.EnvelopeID != "env-7" || len(got.RcptOpts["a@x.example"].Notify) != 2 {
					t.Errorf("DSN options lost: %+v %+v", got.MailOpts, got.RcptOpts["a@x.example"])
				}
			}
		})
	}
}

func TestSubmit_ExitCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		script   func(s *smtptest.Server)
		relay    func(r *Relay)
		wantCode int
		wantMsg  string
	}{
		{name: "relay down", script: func(s *smtptest.Server) { s.Down() }, wantCode: ExTempFail, wantMsg: "not reachable"},
		{name: "421 greeting", script: func(s *smtptest.Server) { s.SetGreeting(&smtptest.Reply{Code: 421, Message: "busy"}) }, wantCode: ExTempFail},
		{name: "452 storage at end of data", script: func(s *smtptest.Server) {
			s.SetData(&smtptest.Reply{Code: 452, Enhanced: [3]int{4, 3, 1}, Message: "Insufficient system storage"})
		}, wantCode: ExTempFail, wantMsg: "452"},
		{name: "451 to one recipient", script: func(s *smtptest.Server) { s.SetRcpt("b@x.example", &smtptest.Reply{Code: 451}) }, wantCode: ExTempFail},
		{name: "550 to one recipient aborts all", script: func(s *smtptest.Server) {
			s.SetRcpt("b@x.example", &smtptest.Reply{Code: 550, Enhanced: [3]int{5, 1, 1}, Message: "no"})
		}, wantCode: ExNoUser, wantMsg: "RCPT TO <b@x.example>"},
		{name: "553 sender denied", script: func(s *smtptest.Server) {
			s.SetMail(&smtptest.Reply{Code: 553, Enhanced: [3]int{5, 7, 1}, Message: "Sender address rejected"})
		}, wantCode: ExNoPerm},
		{name: "554 data refused", script: func(s *smtptest.Server) {
			s.SetData(&smtptest.Reply{Code: 554, Enhanced: [3]int{5, 6, 0}, Message: "bad content"})
		}, wantCode: ExDataErr},
		{name: "AUTH configured, not offered", relay: func(r *Relay) { r.Username, r.Password = "u", "p" }, wantCode: ExConfig, wantMsg: "AUTH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := smtptest.NewServer(t, smtptest.Options{})
			if tt.script != nil {
				tt.script(s)
			}
			r := Relay{Address: s.Addr(), TLS: configs.TLSNone, Timeout: 5 * time.Second}
			if tt.relay != nil {
				tt.relay(&r)
			}
			_, err := Submit(context.Background(), r, testMessage())
			if ExitCode(err) != tt.wantCode || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("Submit = %v (exit %d), want exit %d mentioning %q", err, ExitCode(err), tt.wantCode, tt.wantMsg)
			}
			if tt.wantCode == ExNoUser && s.MessageCount() != 0 {
				t.Error("a message was delivered although a recipient was refused")
			}
		})
	}
}

func TestSubmit_WrongCredentialsAreNoPerm(t *testing.T) {
	t.Parallel()
	s := smtptest.NewServer(t, smtptest.Options{TLS: true, AuthUser: "cron", AuthPassword: "right"})
	r := Relay{Address: s.Addr(), TLS: configs.TLSStartTLS, TLSConfig: trusting(t, s), Username: "cron", Password: "wrong", Timeout: 5 * time.Second}
	_, err := Submit(context.Background(), r, testMessage())
	if ExitCode(err) != ExNoPerm || !strings.Contains(err.Error(), "sendmail.username") {
		t.Errorf("Submit = %v (exit %d), want %d", err, ExitCode(err), ExNoPerm)
	}
}

// A relay that accepts the connection and then says nothing must not
// hang the caller (cron would pile up processes).
func TestSubmit_SilentRelayTimesOut(t *testing.T) {
	t.Parallel()
	silent := testnet.Serve(t, func(net.Conn) {})
	start := time.Now()
	_, err := Submit(context.Background(), Relay{Address: silent, TLS: configs.TLSNone, Timeout: 200 * time.Millisecond}, testMessage())
	if ExitCode(err) != ExTempFail {
		t.Errorf("Submit = %v (exit %d), want %d", err, ExitCode(err), ExTempFail)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}
