package delivery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/mxout/mxout/queue"
	"github.com/mxout/mxout/resolver"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	reply := func(code int, ec smtp.EnhancedCode, msg string) error {
		return &smtp.SMTPError{Code: code, EnhancedCode: ec, Message: msg}
	}
	tests := []struct {
		name       string
		err        error
		wantState  queue.State
		wantStatus string
	}{
		{name: "nil is delivered", err: nil, wantState: queue.Delivered, wantStatus: "2.0.0"},
		{name: "550 fails", err: reply(550, smtp.EnhancedCode{5, 1, 1}, "no user"), wantState: queue.Failed, wantStatus: "5.1.1"},
		{name: "500 boundary fails", err: reply(500, smtp.EnhancedCode{}, "syntax"), wantState: queue.Failed, wantStatus: "5.0.0"},
		{name: "599 boundary fails", err: reply(599, smtp.NoEnhancedCode, "odd"), wantState: queue.Failed, wantStatus: "5.0.0"},
		{name: "499 defers", err: reply(499, smtp.EnhancedCode{}, "odd"), wantState: queue.Pending, wantStatus: "4.0.0"},
		{name: "421 defers", err: reply(421, smtp.EnhancedCode{4, 7, 0}, "closing"), wantState: queue.Pending, wantStatus: "4.7.0"},
		{name: "451 with mismatched class code", err: reply(451, smtp.EnhancedCode{5, 1, 1}, "confused"), wantState: queue.Pending, wantStatus: "4.0.0"},
		{name: "600 is not permanent", err: reply(600, smtp.EnhancedCode{}, "bogus"), wantState: queue.Pending, wantStatus: "4.0.0"},
		{name: "wrapped 5xx fails", err: fmt.Errorf("rcpt: %w", reply(553, smtp.EnhancedCode{5, 7, 1}, "denied")), wantState: queue.Failed, wantStatus: "5.7.1"},
		{name: "null MX fails", err: &resolver.Error{Domain: "x.example", QType: "MX", Kind: resolver.KindNullMX}, wantState: queue.Failed, wantStatus: "5.1.10"},
		{name: "NXDOMAIN fails", err: &resolver.Error{Domain: "x.example", QType: "MX", Kind: resolver.KindNXDomain}, wantState: queue.Failed, wantStatus: "5.4.4"},
		{name: "SERVFAIL defers", err: &resolver.Error{Domain: "x.example", QType: "MX", Kind: resolver.KindServerFailure}, wantState: queue.Pending, wantStatus: "4.4.3"},
		{name: "DNS timeout defers", err: &resolver.Error{Domain: "x.example", QType: "MX", Kind: resolver.KindTimeout}, wantState: queue.Pending, wantStatus: "4.4.3"},
		{name: "connection refused defers", err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, wantState: queue.Pending, wantStatus: "4.4.1"},
		{name: "deadline defers", err: context.DeadlineExceeded, wantState: queue.Pending, wantStatus: "4.4.2"},
		{name: "io timeout defers", err: fmt.Errorf("read: %w", os.ErrDeadlineExceeded), wantState: queue.Pending, wantStatus: "4.4.2"},
		{name: "EOF defers", err: io.EOF, wantState: queue.Pending, wantStatus: "4.4.0"},
		{name: "unknown error defers", err: errors.New("something odd"), wantState: queue.Pending, wantStatus: "4.4.0"},
		{name: "local loop fails", err: permanentLocal("5.4.6", "loop"), wantState: queue.Failed, wantStatus: "5.4.6"},
		{name: "local TLS policy defers", err: temporaryLocal("4.7.10", "no tls"), wantState: queue.Pending, wantStatus: "4.7.10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Classify(tt.err, "mx.example")
			if o.State != tt.wantState || o.Status != tt.wantStatus {
				t.Errorf("Classify(%v) = %v %s, want %v %s", tt.err, o.State, o.Status, tt.wantState, tt.wantStatus)
			}
			if o.Response == "" {
				t.Error("empty response")
			}
		})
	}
}

func TestFormatReply(t *testing.T) {
	t.Parallel()
	got := formatReply(&smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such\nuser"})
	if got != "550 5.1.1 no such user" {
		t.Errorf("formatReply = %q", got)
	}
}
