package smtptest_test

import (
	"bufio"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxout/mxout/delivery/smtptest"
)

// No8BitMIME and NoPipelining each leave their extension out of the EHLO
// reply, and nothing else; with TLS, below which they cannot work, the
// server does not start.
func TestServer_OptionsLeaveOutAnExtension(t *testing.T) {
	t.Parallel()
	tests := []struct {
		option string
		set    func(*smtptest.Options)
		ext    string // what the option leaves out
		other  string // an extension that must stay
	}{
		{"No8BitMIME", func(o *smtptest.Options) { o.No8BitMIME = true }, "8BITMIME", "PIPELINING"},
		{"NoPipelining", func(o *smtptest.Options) { o.NoPipelining = true }, "PIPELINING", "8BITMIME"},
	}
	for _, tt := range tests {
		for _, off := range []bool{false, true} {
			var opts smtptest.Options
			if off {
				tt.set(&opts)
			}
			s := smtptest.NewServer(t, opts)
			c := dial(t, s.Addr())
			if err := c.Hello("client.example"); err != nil {
				t.Fatal(err)
			}
			if ok, _ := c.Extension(tt.ext); ok == off {
				t.Errorf("%s %v: %s offered %v", tt.option, off, tt.ext, ok)
			}
			if ok, _ := c.Extension(tt.other); !ok {
				t.Errorf("%s %v: the rest of the EHLO reply was lost", tt.option, off)
			}
		}
		opts := smtptest.Options{TLS: true}
		tt.set(&opts)
		if _, err := smtptest.Start(opts); err == nil {
			t.Errorf("%s with TLS was accepted; it cannot work below TLS", tt.option)
		}
	}
}

// Commands written together arrive in one read, and with CoalesceReplies
// their replies leave in one write: the client reads them all at once.
func TestServer_PipelinedCommandsAndCoalescedReplies(t *testing.T) {
	t.Parallel()
	s := smtptest.NewServer(t, smtptest.Options{CoalesceReplies: true, RecordReads: true})
	s.SetRcpt("gone@example.net", &smtptest.Reply{Code: 550, Enhanced: [3]int{5, 1, 1}})
	c, r := rawSession(t, s)
	expect(t, r, "220 ")
	write(t, c, "EHLO client.example\r\n")
	for line := expect(t, r, "250"); strings.HasPrefix(line, "250-"); line = expect(t, r, "250") {
	}
	batch := "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nRCPT TO:<gone@example.net>\r\nDATA\r\n"
	write(t, c, batch)
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(buf[:n]), "\r\n"), "\r\n")
	codes := make([]string, len(got))
	for i, line := range got {
		codes[i] = line[:3]
	}
	if !slices.Equal(codes, []string{"250", "250", "550", "354"}) {
		t.Errorf("one read of the replies to a pipelined envelope = %q; want all four", got)
	}
	write(t, c, "hello\r\n.\r\n")
	expect(t, r, "250 ")
	if reads := s.Reads(); len(reads) != 1 || !slices.Contains(reads[0], batch) {
		t.Errorf("reads = %q; want the envelope in one of them", reads)
	}
}

// With DataWithoutRecipients a DATA after refused RCPTs gets 354, and a
// lone dot then gets a reply of its own, as go-smtp reads it as a command.
func TestServer_DataWithoutRecipients(t *testing.T) {
	t.Parallel()
	s := smtptest.NewServer(t, smtptest.Options{DataWithoutRecipients: true})
	s.SetRcpt("gone@example.net", &smtptest.Reply{Code: 550, Enhanced: [3]int{5, 1, 1}})
	c, r := rawSession(t, s)
	expect(t, r, "220 ")
	for _, step := range [][2]string{
		{"HELO client.example", "250 "}, {"MAIL FROM:<a@example.org>", "250 "}, {"RCPT TO:<gone@example.net>", "550 "},
		{"DATA", "354 "}, {".", "5"}, {"RSET", "250 "},
	} {
		write(t, c, step[0]+"\r\n")
		expect(t, r, step[1])
	}
	if n := s.MessageCount(); n != 0 {
		t.Errorf("%d messages recorded", n)
	}
}

// RecordReads sees commands sent one at a time in reads of their own.
func TestServer_RecordReads(t *testing.T) {
	t.Parallel()
	s := smtptest.NewServer(t, smtptest.Options{RecordReads: true})
	c := dial(t, s.Addr())
	if _, err := send(c, "a@example.org", []string{"b@example.net"}); err != nil {
		t.Fatal(err)
	}
	reads := s.Reads()
	if len(reads) != 1 {
		t.Fatalf("reads of %d connections, want 1", len(reads))
	}
	for _, cmd := range []string{"MAIL FROM:<a@example.org>", "RCPT TO:<b@example.net>", "DATA"} {
		alone := func(read string) bool {
			return strings.HasPrefix(read, cmd) && strings.Count(read, "\n") == 1
		}
		if !slices.ContainsFunc(reads[0], alone) {
			t.Errorf("no read of %q alone in %q", cmd, reads[0])
		}
	}
	s.Reset()
	if reads := s.Reads(); len(reads) != 1 || len(reads[0]) != 0 {
		t.Errorf("after Reset: %q", reads)
	}
}

func TestServer_IdleTimeout(t *testing.T) {
	t.Parallel()
	s := smtptest.NewServer(t, smtptest.Options{IdleTimeout: 100 * time.Millisecond})
	_, r := rawSession(t, s)
	expect(t, r, "220 ")
	expect(t, r, "421 4.4.2 ")
	if _, err := r.ReadByte(); err != io.EOF {
		t.Errorf("after the 421: %v, want the connection closed", err)
	}
}

func TestHostile_HangUp(t *testing.T) {
	t.Parallel()
	s := smtptest.NewServer(t, smtptest.Options{})
	s.SetHostile(&smtptest.Hostile{Stage: smtptest.AtMail, Mode: smtptest.HangUp})
	c := dial(t, s.Addr())
	if err := c.Mail("a@example.org", nil); err == nil || !strings.Contains(err.Error(), "EOF") {
		t.Errorf("MAIL to a server that hangs up: %v, want EOF", err)
	}
}

// expect reads a reply line and fails unless it starts with prefix.
func expect(t *testing.T, r *bufio.Reader, prefix string) string {
	t.Helper()
	line, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, prefix) {
		t.Fatalf("read %q, %v; want a line starting %q", line, err, prefix)
	}
	return line
}

func write(t *testing.T, c net.Conn, s string) {
	t.Helper()
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatal(err)
	}
}
