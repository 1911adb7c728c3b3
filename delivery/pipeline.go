package delivery

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/queue"
)

// Outbound pipelining (RFC 2920).
//
// go-smtp's client writes one command and waits for its reply. Where the
// server offers PIPELINING, a transaction's commands (RSET first on a
// reused session, then MAIL, every RCPT and DATA) go out together
// instead, and go-smtp then runs the transaction as it would in lockstep:
// the connection under it (replayConn) drops each command it writes that
// was already sent, and go-smtp reads that command's reply, in order. So
// go-smtp formats every command and parses every reply as without
// pipelining, and the transaction (transaction.go) handles every
// combination of replies the same way. What pipelining adds is at the
// end of a transaction that stops before DATA: the replies still owed
// are read, and a DATA that was sent is ended as RFC 2920 §3.1 says
// (settle).
//
// go-smtp formats the commands sent ahead too: its Mail and Rcpt run
// once on the connection in recording mode, which keeps what they write
// and answers each with a canned 250.

// pipelineWindow bounds the commands sent in one write. A transaction
// with more goes out in groups, each once the replies to the one before
// are read, as Postfix sends no more than its 4 KiB buffer ahead: the
// replies to one group then fit in the socket buffers between the two
// sides even while neither reads, so that a server that writes every
// reply before it reads on cannot deadlock with a client still writing.
// 16 KiB (Linux's initial TCP send buffer) takes a whole transaction of
// 100 recipients (delivery.max_recipients_per_transaction) with ordinary
// addresses.
const pipelineWindow = 16 << 10

const (
	rsetCommand = "RSET\r\n"
	dataCommand = "DATA\r\n"
	// cannedReply answers every command go-smtp writes while recording.
	cannedReply = "250 2.0.0 recorded, not sent\r\n"
)

// errOutOfStep means go-smtp wrote something other than the next command
// sent ahead, which would leave the replies out of step with the
// commands: the session is ended rather than risk that.
var errOutOfStep = errors.New("pipelining: a command differs from the one sent ahead")

// replayConn is the connection under go-smtp's client. It returns
// pending bytes before reading from the connection (the greeting that
// the STARTTLS prologue read, replayed to go-smtp; the canned replies of
// recording mode), and runs the pipeline: see Write.
type replayConn struct {
	net.Conn
	pending []byte

	// recording: writes are kept in recorded, not sent, and each is
	// answered with cannedReply.
	recording bool
	recorded  []byte
	// ahead holds the groups of commands not sent yet; sent, the commands
	// sent ahead that go-smtp has not written yet.
	ahead [][]byte
	sent  []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// Write sends p, except while recording, and except when p is the next
// command sent ahead: then go-smtp only catches up, and p is dropped.
// The first command of a group not sent yet sends the whole group.
func (c *replayConn) Write(p []byte) (int, error) {
	if c.recording {
		c.recorded = append(c.recorded, p...)
		c.pending = append(c.pending, cannedReply...)
		return len(p), nil
	}
	if len(c.sent) == 0 && len(c.ahead) > 0 {
		if err := c.sendGroup(nil); err != nil {
			return 0, err
		}
	}
	if len(c.sent) == 0 {
		return c.Conn.Write(p)
	}
	if !bytes.HasPrefix(c.sent, p) {
		return 0, errOutOfStep
	}
	c.sent = c.sent[len(p):]
	return len(p), nil
}

// record returns what f has go-smtp write, in recording mode.
func (c *replayConn) record(f func() error) ([]byte, error) {
	c.recording, c.recorded = true, nil
	err := f()
	out := c.recorded
	c.recording, c.recorded, c.pending = false, nil, nil
	return out, err
}

// sendGroup sends prefix and the next group ahead in one write.
func (c *replayConn) sendGroup(prefix []byte) error {
	var g []byte
	if len(c.ahead) > 0 {
		g, c.ahead = c.ahead[0], c.ahead[1:]
	}
	if _, err := c.Conn.Write(append(prefix, g...)); err != nil {
		c.ahead = nil
		return err
	}
	c.sent = g
	return nil
}

// owed returns the commands sent ahead that go-smtp did not get to, whose
// replies are still to come, and forgets those not sent.
func (c *replayConn) owed() []string {
	var cmds []string
	for line := range bytes.Lines(c.sent) {
		cmds = append(cmds, string(line))
	}
	c.endPipeline()
	return cmds
}

// endPipeline forgets the commands ahead, sent or not.
func (c *replayConn) endPipeline() { c.ahead, c.sent = nil, nil }

// pipelining reports whether the server offers PIPELINING.
func (s *session) pipelining() bool {
	ok, _ := s.client.Extension("PIPELINING")
	return ok
}

// sendAhead starts a pipelined transaction for the recipients at idxs:
// it sends its commands, in groups of at most pipelineWindow octets, the
// first one now, behind RSET on a reused session, whose reply it then
// reads. An error means that the session died before the server
// answered anything in this transaction: a reused one was dead already.
func (s *session) sendAhead(m *queue.Message, opts *smtp.MailOptions, idxs []int, t configs.DeliveryTimeouts) error {
	var rset []byte
	if s.reused {
		rset = []byte(rsetCommand)
	}
	s.rc.ahead = packGroups(s.commands(m, opts, idxs), len(rset))
	if len(s.rc.ahead) == 0 && rset == nil {
		return nil // go-smtp refuses to write MAIL: so will the transaction
	}
	s.rc.SetWriteDeadline(time.Now().Add(t.Mail))
	err := s.rc.sendGroup(rset)
	s.rc.SetWriteDeadline(time.Time{})
	if err == nil && s.reused {
		if _, err = s.await(250, t.Rset); err != nil {
			// Not a reply to the transaction's commands, whatever its
			// code: never a reason to fail a recipient.
			err = fmt.Errorf("the cached session is dead (RSET: %v)", err)
		}
	}
	if err != nil {
		s.rc.endPipeline()
	}
	return err
}

// commands has go-smtp format MAIL and the RCPTs for idxs, and adds DATA.
// It stops at a command that go-smtp refuses to write (an address it
// will not send): the transaction meets the same refusal when it gets
// there, and DATA is not sent.
func (s *session) commands(m *queue.Message, opts *smtp.MailOptions, idxs []int) [][]byte {
	c := s.client
	mail, err := s.rc.record(func() error { return c.Mail(m.From, opts) })
	if err != nil {
		return nil
	}
	cmds := [][]byte{mail}
	for _, i := range idxs {
		p := m.Recipients[i].RecipientParams
		rcpt, err := s.rc.record(func() error { return c.Rcpt(p.Addr, rcptOptions(p)) })
		if err != nil {
			return cmds
		}
		cmds = append(cmds, rcpt)
	}
	return append(cmds, []byte(dataCommand))
}

// packGroups packs cmds, in order, into groups of at most pipelineWindow
// octets (the first one holds used octets already), a command longer than
// that alone. DATA stays with the last RCPT: once the RCPTs are answered
// it has been sent, and a transaction that stops there knows to read its
// reply (settle).
func packGroups(cmds [][]byte, used int) [][]byte {
	var groups [][]byte
	var cur []byte
	for _, cmd := range cmds {
		full := used+len(cur)+len(cmd) > pipelineWindow
		if len(cur) > 0 && full && string(cmd) != dataCommand {
			groups, cur, used = append(groups, cur), nil, 0
		}
		cur = append(cur, cmd...)
	}
	if len(cur) > 0 {
		groups = append(groups, cur)
	}
	return groups
}

// settle ends a pipelined transaction that stopped before DATA because
// MAIL or every RCPT was refused. It reads the replies owed to commands
// sent ahead and ends a DATA among them as RFC 2920 §3.1 says: after a
// 354 (a server may accept DATA though no RCPT succeeded) with a lone
// dot, and nothing else since no recipient was accepted; after a refusal
// with RSET. An error means that the session cannot carry another
// transaction.
func (s *session) settle(t configs.DeliveryTimeouts) error {
	for _, cmd := range s.rc.owed() {
		timeout := t.Rcpt
		if cmd == dataCommand {
			timeout = t.DataInit
		}
		code, err := s.await(0, timeout)
		switch {
		case err != nil:
			return err
		case code == 421:
			return fmt.Errorf("the server is closing the session (%d)", code)
		case cmd != dataCommand:
		case code == 354:
			return s.dot(t.DataDone)
		default:
			return s.reset(t.Rset)
		}
	}
	return nil
}

// dot ends the data of a DATA whose 354 came when no recipient was
// accepted: a lone dot, whose reply is read and does not matter.
func (s *session) dot(timeout time.Duration) error {
	code, err := s.command(".\r\n", 0, timeout)
	if err == nil && code == 421 {
		err = fmt.Errorf("the server is closing the session (%d)", code)
	}
	return err
}
