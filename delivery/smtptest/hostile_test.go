package smtptest_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mxout/mxout/delivery/smtptest"
)

// rawSession dials s and returns the connection and a reader of it.
func rawSession(t *testing.T, s *smtptest.Server) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

func TestHostile_GiantGreetingStopsAtLimit(t *testing.T) {
	t.Parallel()
	s := smtptest.NewServer(t, smtptest.Options{})
	s.SetHostile(&smtptest.Hostile{Stage: smtptest.AtGreeting, Mode: smtptest.GiantLine, Limit: 1 << 20})
	_, r := rawSession(t, s)
	all, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 4+1<<20 || !bytes.HasPrefix(all, []byte("220 xxx")) || bytes.ContainsAny(all, "\r\n") {
		t.Errorf("read %d octets starting %q; want \"220 \" and 1 MiB without a line end", len(all), all[:min(len(all), 16)])
	}
	if got := s.HostileSent(); got != int64(len(all)) {
		t.Errorf("HostileSent = %d, want %d", got, len(all))
	}
}

func TestHostile_EndlessReplyAtRcpt(t *testing.T) {
	t.Parallel()
	s := smtptest.NewServer(t, smtptest.Options{})
	s.SetHostile(&smtptest.Hostile{Stage: smtptest.AtRcpt, Mode: smtptest.EndlessReply, Code: 450, Limit: 256 << 10})
	c := dial(t, s.Addr())
	if err := c.Mail("a@example.org", nil); err != nil {
		t.Fatalf("MAIL before the hostile stage: %v", err)
	}
	if err := c.Rcpt("b@example.net", nil); err == nil {
		t.Fatal("RCPT succeeded against an endless reply")
	}
	if got := s.HostileSent(); got < 256<<10 {
		t.Errorf("HostileSent = %d, want the whole limit (go-smtp's client reads on)", got)
	}
}

func TestHostile_DripAndGarbage(t *testing.T) {
	t.Parallel()
	t.Run("drip", func(t *testing.T) {
		t.Parallel()
		s := smtptest.NewServer(t, smtptest.Options{Hostname: "drip.example"})
		s.SetHostile(&smtptest.Hostile{Stage: smtptest.AtGreeting, Mode: smtptest.Drip, Interval: time.Millisecond})
		_, r := rawSession(t, s)
		line, err := r.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "220 drip.example") {
			t.Fatalf("greeting %q, %v", line, err)
		}
		// The last octet may be read before the server has counted it.
		deadline := time.Now().Add(5 * time.Second)
		for s.HostileSent() < int64(len(line)) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if got := s.HostileSent(); got != int64(len(line)) {
			t.Errorf("HostileSent = %d, want the %d octets of the dripped greeting", got, len(line))
		}
	})
	t.Run("garbage", func(t *testing.T) {
		t.Parallel()
		s := smtptest.NewServer(t, smtptest.Options{})
		s.SetHostile(&smtptest.Hostile{Stage: smtptest.AtEHLO, Mode: smtptest.Garbage})
		c, r := rawSession(t, s)
		if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "220 ") {
			t.Fatalf("greeting %q, %v", line, err)
		}
		io.WriteString(c, "EHLO client.example\r\n")
		junk, err := io.ReadAll(r)
		if err != nil || len(junk) != 4096 || bytes.HasPrefix(junk, []byte("250")) {
			t.Errorf("after EHLO: %d octets, %v; want 4 KiB of garbage and the end", len(junk), err)
		}
	})
}
