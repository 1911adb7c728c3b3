package submission

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"

	"github.com/emersion/go-smtp"
)

func TestDataReply(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		err    error
		code   int
		enh    smtp.EnhancedCode
		reason string
	}{
		{"bare LF", errBareLineEnding, 550, smtp.EnhancedCode{5, 6, 11}, ReasonBareLF},
		{"too large", smtp.ErrDataTooLarge, 552, smtp.EnhancedCode{5, 3, 4}, ReasonSize},
		{"too large, wrapped", fmt.Errorf("read: %w", smtp.ErrDataTooLarge), 552, smtp.EnhancedCode{5, 3, 4}, ReasonSize},
		{"line too long", smtp.ErrTooLongLine, 500, smtp.EnhancedCode{5, 5, 2}, ReasonLineTooLong},
		{"client went away", io.ErrUnexpectedEOF, 451, smtp.EnhancedCode{4, 4, 2}, ReasonAborted},
		{"timeout", os.ErrDeadlineExceeded, 421, smtp.EnhancedCode{4, 4, 2}, ReasonTimeout},
		{"timeout, wrapped", &net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}, 421, smtp.EnhancedCode{4, 4, 2}, ReasonTimeout},
		{"DATA deadline, from the connection", replyDataTimeout(), 421, smtp.EnhancedCode{4, 4, 2}, ReasonTimeout},
		{"BDAT line too long", errLineTooLong, 500, smtp.EnhancedCode{5, 5, 2}, ReasonLineTooLong},
		{"connection reset", &net.OpError{Op: "read", Err: errors.New("connection reset by peer")}, 451, smtp.EnhancedCode{4, 4, 2}, ReasonAborted},
		{"BDAT reset", smtp.ErrDataReset, 451, smtp.EnhancedCode{4, 4, 2}, ReasonAborted},
		{"go-smtp panic reply", &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 0, 0}}, 421, smtp.EnhancedCode{4, 0, 0}, ReasonLocalError},
		{"unknown", errors.New("something odd"), 451, smtp.EnhancedCode{4, 3, 0}, ReasonLocalError},
	}
	for _, tt := range tests {
		r, reason := dataReply(tt.err)
		if r.Code != tt.code || r.EnhancedCode != tt.enh || reason != tt.reason {
			t.Errorf("%s: %d %v %s, want %d %v %s", tt.name, r.Code, r.EnhancedCode, reason, tt.code, tt.enh, tt.reason)
		}
	}
	// go-smtp's own error goes out unchanged, message included.
	if r, _ := dataReply(smtp.ErrDataTooLarge); r != smtp.ErrDataTooLarge {
		t.Errorf("ErrDataTooLarge replaced by %v", r)
	}
}

func TestReasons_Distinct(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, r := range allReasons() {
		if seen[r] || r == "" {
			t.Errorf("reason %q repeated or empty", r)
		}
		seen[r] = true
	}
}

func TestRemoteIP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 25}, "192.0.2.1"},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.1"), Port: 25}, "192.0.2.1"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 25}, "2001:db8::1"},
		{&net.UDPAddr{IP: net.ParseIP("192.0.2.2"), Port: 25}, "192.0.2.2"},
		{&net.UnixAddr{Name: "/run/mxout.sock", Net: "unix"}, "invalid IP"},
		{nil, "invalid IP"},
	}
	for _, tt := range tests {
		if got := remoteIP(tt.addr).String(); got != tt.want {
			t.Errorf("remoteIP(%v) = %s, want %s", tt.addr, got, tt.want)
		}
	}
}
