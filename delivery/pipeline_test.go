package delivery

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/internal/testwait"
	"github.com/mxout/mxout/queue"
)

// commandLines splits what one read returned into its lines, without
// their CRLFs.
func commandLines(read string) []string {
	return strings.Split(strings.TrimSuffix(read, "\r\n"), "\r\n")
}

// readWith returns the first read whose first line starts with prefix,
// as lines.
func readWith(reads []string, prefix string) []string {
	for _, r := range reads {
		if lines := commandLines(r); strings.HasPrefix(lines[0], prefix) {
			return lines
		}
	}
	return nil
}

// verbsOf returns the first word of each line.
func verbsOf(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i], _, _ = strings.Cut(l, ":")
	}
	return out
}

// TestPipeline_EnvelopeInOneWrite: where PIPELINING is offered, MAIL,
// every RCPT and DATA arrive in one read, behind RSET on a reused
// session; where it is not, every command arrives alone.
func TestPipeline_EnvelopeInOneWrite(t *testing.T) {
	t.Parallel()
	eachWire(t, func(t *testing.T, w *world) {
		mx := w.mx("batch.example", 10, smtptest.Options{RecordReads: true})
		w.cfg.ConnectionIdleTimeout = 10 * time.Second
		w.start()
		first := w.enqueue("app@sender.example", "a@batch.example", "b@batch.example", "c@batch.example")
		w.waitFinal(first, 3, 10*time.Second)
		second := w.enqueue("app@sender.example", "d@batch.example")
		w.waitFinal(second, 1, 10*time.Second)
		reads := mx.Reads()
		if len(reads) != 1 {
			t.Fatalf("reads on %d connections; want both messages on one", len(reads))
		}
		batch1, batch2 := readWith(reads[0], "MAIL FROM:<app@sender.example>"), readWith(reads[0], "RSET")
		if w.wire.noPipelining {
			for _, read := range reads[0] {
				lines := commandLines(read)
				isCommand := func(l string) bool {
					return slices.Contains([]string{"RSET", "MAIL FROM", "RCPT TO", "DATA"}, verbsOf([]string{l})[0])
				}
				if len(lines) > 1 && slices.ContainsFunc(lines, isCommand) {
					t.Errorf("without PIPELINING, %d lines arrived together: %q", len(lines), read)
				}
			}
			if !slices.Equal(batch2, []string{"RSET"}) {
				t.Errorf("the reused session's RSET arrived as %q; want it alone", batch2)
			}
			return
		}
		if want := []string{"MAIL FROM", "RCPT TO", "RCPT TO", "RCPT TO", "DATA"}; !slices.Equal(verbsOf(batch1), want) {
			t.Errorf("first envelope arrived as %q; want %v in one read", batch1, want)
		}
		if want := []string{"RSET", "MAIL FROM", "RCPT TO", "DATA"}; !slices.Equal(verbsOf(batch2), want) {
			t.Errorf("second envelope, on the reused session, arrived as %q; want %v in one read", batch2, want)
		}
		if !slices.Contains(batch1, "RCPT TO:<c@batch.example>") || !slices.Contains(batch2, "RCPT TO:<d@batch.example>") {
			t.Errorf("recipients missing from %q and %q", batch1, batch2)
		}
	})
}

// TestPipeline_RefusedEnvelopeKeepsTheSession: a refused MAIL, and RCPTs
// all refused, give the recipients the same outcomes on every wire; a
// pipelined transaction then reads the replies it is owed, ends the DATA
// sent ahead (RSET after its refusal, a lone dot after a 354, RFC 2920
// §3.1), never sends the message, and the session carries the next one.
func TestPipeline_RefusedEnvelopeKeepsTheSession(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		dataAnyway bool // the server answers DATA with 354 after refused RCPTs
		mail       bool // MAIL is refused, not the RCPTs
		wantStatus string
		wantEnd    string // what a pipelined transaction sends after the envelope
	}{
		{name: "MAIL refused", mail: true, wantStatus: "5.7.1", wantEnd: "RSET"},
		{name: "every RCPT refused", wantStatus: "5.1.1", wantEnd: "RSET"},
		{name: "every RCPT refused, DATA accepted anyway", dataAnyway: true, wantStatus: "5.1.1", wantEnd: "."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			eachWire(t, func(t *testing.T, w *world) {
				mx := w.mx("strict.example", 10, smtptest.Options{RecordReads: true, DataWithoutRecipients: tt.dataAnyway})
				w.cfg.ConnectionIdleTimeout = 10 * time.Second
				if tt.mail {
					mx.SetMail(&smtptest.Reply{Code: 550, Enhanced: [3]int{5, 7, 1}, Message: "sender refused"})
				} else {
					mx.SetRcptFunc(func(addr string, _ int) *smtptest.Reply {
						if strings.HasPrefix(addr, "gone") {
							return &smtptest.Reply{Code: 550, Enhanced: [3]int{5, 1, 1}, Message: "no such user"}
						}
						return nil
					})
				}
				w.start()
				refused := w.enqueue("app@sender.example", "gone1@strict.example", "gone2@strict.example")
				for addr, r := range w.waitFinal(refused, 2, 10*time.Second) {
					if r.State != queue.Failed || r.Status != tt.wantStatus || !strings.HasPrefix(r.Response, "550 "+tt.wantStatus) {
						t.Errorf("%s: %+v, want failed with the 550 %s", addr, r, tt.wantStatus)
					}
				}
				mx.SetMail(nil)
				next := w.enqueue("app@sender.example", "u@strict.example")
				if r := w.waitFinal(next, 1, 10*time.Second)["u@strict.example"]; r.State != queue.Delivered {
					t.Fatalf("the next message: %+v", r)
				}
				if n := mx.Connections(); n != 1 {
					t.Errorf("%d connections; want the refused transaction's session to carry the next message", n)
				}
				reads := mx.Reads()[0]
				if n := len(slices.DeleteFunc(slices.Clone(reads), func(r string) bool { return !strings.Contains(r, "Subject: test") })); n != 1 {
					t.Errorf("the message was sent %d times; want only to the accepted recipient", n)
				}
				if w.wire.noPipelining {
					return
				}
				i := slices.IndexFunc(reads, func(r string) bool { return strings.Contains(r, "RCPT TO:<gone2@strict.example>") })
				if i < 0 || i+1 >= len(reads) || reads[i+1] != tt.wantEnd+"\r\n" {
					t.Errorf("after the refused envelope came %q; want %q alone", reads[min(i+1, len(reads)-1):], tt.wantEnd)
				}
			})
		})
	}
}

// TestPipeline_SilentOnlyBeforeAnyReply: a reused session that dies
// before the server answers anything of the transaction (RSET included)
// is replaced without an attempt, as without pipelining; once the server
// has answered, a broken connection costs the attempt.
func TestPipeline_SilentOnlyBeforeAnyReply(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		idle      time.Duration   // the server's idle timeout (421 to the cached session)
		hostile   *smtptest.Stage // the server hangs up at this stage on the second message
		delivered bool
		conns     int
	}{
		{name: "cached session timed out by the server (421)", idle: 300 * time.Millisecond, delivered: true, conns: 2},
		{name: "hang-up at MAIL", hostile: ptr(smtptest.AtMail), conns: 2},
		{name: "hang-up at RCPT, after MAIL's reply", hostile: ptr(smtptest.AtRcpt), conns: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			eachWire(t, func(t *testing.T, w *world) {
				w.oneAttempt()
				mx := w.mx("dying.example", 10, smtptest.Options{IdleTimeout: tt.idle})
				w.cfg.ConnectionIdleTimeout = 10 * time.Second
				w.start()
				first := w.enqueue("app@sender.example", "a@dying.example")
				w.waitFinal(first, 1, 10*time.Second)
				if tt.idle > 0 {
					testwait.For(t, 10*time.Second, "the server to end the idle session", func() bool { return mx.Active() == 0 })
				}
				if tt.hostile != nil {
					mx.SetHostile(&smtptest.Hostile{Stage: *tt.hostile, Mode: smtptest.HangUp})
				}
				second := w.enqueue("app@sender.example", "b@dying.example")
				r := w.firstResult(second, "b@dying.example")
				if got := r.State == queue.Delivered; got != tt.delivered {
					t.Errorf("second message: %+v; want delivered %v", r, tt.delivered)
				}
				waitRecorded(t, w, second)
				if all := w.notes.all(second, "b@dying.example"); len(all) != 1 {
					t.Errorf("%d attempts recorded, want 1: %+v", len(all), all)
				}
				if n := mx.Connections(); n != tt.conns {
					t.Errorf("%d connections, want %d", n, tt.conns)
				}
			})
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestPipeline_421MidEnvelope: a 421 to the second RCPT, with a DATA
// accepted behind it, ends the transaction as in lockstep: every
// recipient deferred with the 421, and no message sent.
func TestPipeline_421MidEnvelope(t *testing.T) {
	t.Parallel()
	eachWire(t, func(t *testing.T, w *world) {
		w.oneAttempt()
		mx := w.mx("closing.example", 10, smtptest.Options{})
		mx.SetRcpt("b@closing.example", &smtptest.Reply{Code: 421, Enhanced: [3]int{4, 3, 2}, Message: "shutting down"})
		w.start()
		id := w.enqueue("app@sender.example", "a@closing.example", "b@closing.example", "c@closing.example")
		for _, rc := range []string{"a@closing.example", "b@closing.example", "c@closing.example"} {
			r := w.firstResult(id, rc)
			if r.State != queue.Pending || r.Status != "4.3.2" || !strings.HasPrefix(r.Response, "421 4.3.2 shutting down") {
				t.Errorf("%s: %+v, want the 421", rc, r)
			}
		}
		if n := mx.MessageCount(); n != 0 {
			t.Errorf("%d messages arrived after a 421", n)
		}
	})
}

// writeLog records what is written to the connections it dials.
type writeLog struct {
	mu     sync.Mutex
	writes []string
	recordingDialer
}

func (l *writeLog) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := l.recordingDialer.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return loggedConn{c, l}, nil
}

type loggedConn struct {
	net.Conn
	l *writeLog
}

func (c loggedConn) Write(p []byte) (int, error) {
	c.l.mu.Lock()
	c.l.writes = append(c.l.writes, string(p))
	c.l.mu.Unlock()
	return c.Conn.Write(p)
}

// TestPipeline_LongEnvelopeInGroups: an envelope longer than
// pipelineWindow goes out in groups of at most that size, DATA with the
// last RCPT, and the transaction delivers to all of them.
func TestPipeline_LongEnvelopeInGroups(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	mx := w.mx("long.example", 10, smtptest.Options{})
	log := &writeLog{}
	w.cfg.Dialer = log
	w.start()
	var rcpts []string
	for i := range 100 {
		rcpts = append(rcpts, fmt.Sprintf("%s%03d@long.example", strings.Repeat("r", 150), i))
	}
	id := w.enqueue("app@sender.example", rcpts...)
	w.waitFinal(id, len(rcpts), 20*time.Second)
	if msgs := mx.Messages(); len(msgs) != 1 || !slices.Equal(msgs[0].To, rcpts) {
		t.Fatalf("the server got %d messages; want one to all %d recipients", len(msgs), len(rcpts))
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	var groups []string
	for _, wr := range log.writes {
		if strings.Contains(wr, "RCPT TO:") {
			groups = append(groups, wr)
		}
	}
	rcptsSent := 0
	for i, g := range groups {
		rcptsSent += strings.Count(g, "RCPT TO:")
		if len(g) > pipelineWindow {
			t.Errorf("group %d is %d octets, over %d", i, len(g), pipelineWindow)
		}
		if last := i == len(groups)-1; strings.HasSuffix(g, dataCommand) != last {
			t.Errorf("group %d of %d ends %q", i+1, len(groups), g[max(0, len(g)-20):])
		}
	}
	if len(groups) != 2 || rcptsSent != len(rcpts) || !strings.HasPrefix(groups[0], "MAIL FROM:") {
		t.Errorf("the envelope went out in %d writes with %d RCPTs; want MAIL and the RCPTs in 2, DATA in the last", len(groups), rcptsSent)
	}
}

func TestPackGroups(t *testing.T) {
	t.Parallel()
	cmd := func(n int) []byte { return append(bytes.Repeat([]byte("x"), n-2), '\r', '\n') }
	data := []byte(dataCommand)
	tests := []struct {
		name  string
		cmds  [][]byte
		used  int
		sizes []int
	}{
		{"all in one", [][]byte{cmd(100), cmd(100), data}, 0, []int{206}},
		{"RSET counts in the first group", [][]byte{cmd(pipelineWindow - 10), cmd(20), data}, 6, []int{pipelineWindow - 10, 26}},
		{"DATA stays with the last RCPT", [][]byte{cmd(100), cmd(pipelineWindow - 100), data}, 0, []int{pipelineWindow + 6}},
		{"a command over the window goes alone", [][]byte{cmd(10), cmd(pipelineWindow + 1), cmd(10), data}, 0, []int{10, pipelineWindow + 1, 16}},
		{"nothing", nil, 6, nil},
	}
	for _, tt := range tests {
		var sizes []int
		for _, g := range packGroups(tt.cmds, tt.used) {
			sizes = append(sizes, len(g))
		}
		if !slices.Equal(sizes, tt.sizes) {
			t.Errorf("%s: groups of %v octets, want %v", tt.name, sizes, tt.sizes)
		}
	}
}
