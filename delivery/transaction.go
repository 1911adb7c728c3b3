package delivery

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/internal/header"
	"github.com/mxout/mxout/internal/mailtext"
	"github.com/mxout/mxout/queue"
)

// txResult is what one transaction did.
type txResult struct {
	out map[int]Outcome
	// broken: the connection can no longer be used (an I/O error or a
	// timeout, as opposed to a reply, or a 421).
	broken bool
	// silent: the connection broke before the server answered anything in
	// this transaction. On a reused session that means it was already
	// dead, and the transaction is retried on a fresh connection.
	silent bool
	// siteFailure: the transaction failed as a whole and temporarily (4xx
	// to MAIL, DATA or the final dot, 421 anywhere, a broken connection):
	// the destination is in trouble, not one recipient.
	siteFailure bool
}

// bodyBlock is how much of the body is written under one data-block
// timeout (RFC 5321 §4.5.3.2.5: 3 minutes per TCP SEND).
const bodyBlock = 64 << 10

// transact runs one SMTP transaction for the recipients at idxs and returns
// an outcome for each of them, waiting for each reply as long as t allows.
// Where the server offers PIPELINING, the commands up to DATA go out
// together (pipeline.go); the replies are handled the same way.
func (s *session) transact(m *queue.Message, body []byte, idxs []int, t configs.DeliveryTimeouts) txResult {
	x := &tx{s: s, idxs: idxs, res: txResult{out: make(map[int]Outcome, len(idxs))}}
	s.uses++
	opts, err := s.mailOptions(m, idxs, body)
	if err != nil {
		x.all(err)
		return x.res
	}
	x.run(m, body, opts, t)
	remoteDSN, _ := s.client.Extension("DSN")
	for i, o := range x.res.out {
		o.RemoteDSN = remoteDSN
		x.res.out[i] = o
	}
	return x.res
}

// tx is one transaction's outcomes as they are learnt.
type tx struct {
	s    *session
	idxs []int
	res  txResult
}

// all gives err's outcome to every recipient that has none yet. A
// temporary one is a site failure; a 421 also breaks the session.
func (x *tx) all(err error) {
	o := Classify(err, x.s.remoteMTA)
	for _, i := range x.idxs {
		if _, done := x.res.out[i]; !done {
			x.res.out[i] = o
		}
	}
	if o.State == queue.Pending {
		x.res.siteFailure = true // a 4xx or a broken connection, never one recipient's
	}
	if o.Code == 421 {
		x.res.broken, x.res.siteFailure = true, true
	}
}

// mailOptions checks that the message can go to this server as it is,
// and returns MAIL's parameters; an error is the outcome of every
// recipient.
func (s *session) mailOptions(m *queue.Message, idxs []int, body []byte) (*smtp.MailOptions, error) {
	c := s.client
	utf8 := m.UTF8
	if ok, _ := c.Extension("SMTPUTF8"); utf8 && !ok {
		// Clients such as Go's net/smtp ask for SMTPUTF8 whenever it is
		// offered. Like Postfix, require it of the next hop only when the
		// envelope or the header really holds UTF-8; otherwise send the
		// message as plain mail.
		if needsSMTPUTF8(m, idxs, body) {
			return nil, permanentLocal("5.6.7", "SMTPUTF8 is required, but was not offered by host %s", s.remoteMTA)
		}
		utf8 = false
	}
	if ok, _ := c.Extension("8BITMIME"); !ok && has8bit(body) {
		// RFC 6152: never 8-bit to a server that did not offer it. Not
		// converted to quoted-printable, which would break the message's
		// DKIM signature (docs/delivery.md, "8-bit messages").
		return nil, permanentLocal("5.6.3", "the message has 8-bit content, but host %s does not offer 8BITMIME (RFC 6152)", s.remoteMTA)
	}
	if limit, ok := c.MaxMessageSize(); ok && limit > 0 && len(body) > limit {
		return nil, permanentLocal("5.3.4", "message size %d exceeds the limit of %d of host %s", len(body), limit, s.remoteMTA)
	}
	// go-smtp sends RET/ENVID and NOTIFY/ORCPT only when the server
	// advertises DSN (RFC 3461 §4: pass them on to the next hop).
	return &smtp.MailOptions{
		Size: int64(len(body)), UTF8: utf8,
		Return: smtp.DSNReturn(m.DSN.Ret), EnvelopeID: m.DSN.EnvID,
	}, nil
}

// run carries the transaction: the envelope, then the message to the
// recipients accepted.
func (x *tx) run(m *queue.Message, body []byte, opts *smtp.MailOptions, t configs.DeliveryTimeouts) {
	s := x.s
	pipelined := s.pipelining()
	defer s.rc.endPipeline() // nothing sent ahead outlives the transaction
	if pipelined {
		if err := s.sendAhead(m, opts, x.idxs, t); err != nil {
			x.all(err)
			x.res.broken, x.res.silent = true, true
			return
		}
	}
	accepted, ok := x.envelope(m, opts, t)
	switch {
	case x.res.broken:
	case pipelined && (!ok || len(accepted) == 0):
		// MAIL or every RCPT refused: replies to commands sent ahead
		// are still to come.
		x.res.broken = s.settle(t) != nil
	case !ok:
	case len(accepted) == 0:
		x.res.broken = s.reset(t.Rset) != nil
	default:
		x.data(body, accepted, t)
	}
}

// envelope sends MAIL and the RCPTs, or takes their replies when they
// were sent ahead, and returns the recipients accepted; ok is false when
// the transaction cannot go on (MAIL refused, a 421, a broken connection).
func (x *tx) envelope(m *queue.Message, opts *smtp.MailOptions, t configs.DeliveryTimeouts) (accepted []int, ok bool) {
	c := x.s.client
	c.CommandTimeout = t.Mail
	if err := c.Mail(m.From, opts); err != nil {
		x.all(err)
		x.res.broken = x.res.broken || !isReply(err)
		x.res.silent = !isReply(err)
		return nil, false
	}
	c.CommandTimeout = t.Rcpt
	for _, i := range x.idxs {
		err := c.Rcpt(m.Recipients[i].Addr, rcptOptions(m.Recipients[i].RecipientParams))
		if err == nil {
			accepted = append(accepted, i)
			continue
		}
		if !isReply(err) {
			x.all(err)
			x.res.broken = true
			return nil, false
		}
		x.res.out[i] = Classify(err, x.s.remoteMTA)
		if x.res.out[i].Code == 421 {
			x.all(err) // broken, and a site failure
			return nil, false
		}
	}
	return accepted, true
}

// data sends the message to the accepted recipients and records the
// final reply for each of them.
func (x *tx) data(body []byte, accepted []int, t configs.DeliveryTimeouts) {
	s, c := x.s, x.s.client
	c.CommandTimeout = t.DataInit
	c.SubmissionTimeout = t.DataDone
	w, err := c.Data()
	if err != nil {
		x.all(err)
		x.res.broken = x.res.broken || !isReply(err) || s.reset(t.Rset) != nil
		return
	}
	if err := s.writeBody(body, t.DataBlock); err != nil {
		x.all(err)
		x.res.broken = true
		return
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		x.all(err)
		x.res.broken = x.res.broken || !isReply(err)
		return
	}
	ok := Outcome{State: queue.Delivered, Code: 250, Status: "2.0.0", Response: clip("250 " + mailtext.OneLine(resp.StatusText)), RemoteMTA: s.remoteMTA}
	if st := leadingStatus(resp.StatusText); st != "" {
		ok.Status = st
	}
	for _, i := range accepted {
		x.res.out[i] = ok
	}
}

// writeBody sends the message after DATA's 354: dot-stuffed as go-smtp's
// DotWriter would, but written straight to the connection (go-smtp has
// nothing buffered between commands), in blocks each under its own write
// deadline; go-smtp sets none while the body is sent. The data command's
// Close then writes the rest, "\r\n.\r\n" (writeStuffed); the last
// deadline also covers that flush.
func (s *session) writeBody(body []byte, block time.Duration) error {
	conn := s.rc.Conn
	deadline := func() { conn.SetWriteDeadline(time.Now().Add(block)) }
	if err := writeStuffed(conn, body, deadline); err != nil {
		return err
	}
	deadline()
	return nil
}

// isReply reports whether err is a server reply rather than a broken
// connection or a local problem.
func isReply(err error) bool {
	var se *smtp.SMTPError
	return errors.As(err, &se)
}

// leadingStatus returns an enhanced status code at the start of text.
func leadingStatus(text string) string {
	var a, b, c int
	if n, _ := fmt.Sscanf(text, "%d.%d.%d", &a, &b, &c); n == 3 && a == 2 {
		return fmt.Sprintf("%d.%d.%d", a, b, c)
	}
	return ""
}

// rcptOptions carries a recipient's RFC 3461 NOTIFY and ORCPT to the next
// hop. An ORCPT is stored as "type;address".
func rcptOptions(p queue.RecipientParams) *smtp.RcptOptions {
	if len(p.Notify) == 0 && p.ORCPT == "" {
		return nil
	}
	o := &smtp.RcptOptions{}
	for _, n := range p.Notify {
		o.Notify = append(o.Notify, smtp.DSNNotify(n))
	}
	typ, addr, ok := strings.Cut(p.ORCPT, ";")
	switch t := smtp.DSNAddressType(strings.ToUpper(typ)); {
	case ok && addr != "" && (t == smtp.DSNAddressTypeRFC822 || t == smtp.DSNAddressTypeUTF8):
		o.OriginalRecipientType, o.OriginalRecipient = t, addr
	}
	return o
}

// needsSMTPUTF8 reports whether the sender, one of the recipients at idxs,
// or the message header contains non-ASCII, so that the message cannot go
// to a server without SMTPUTF8 unchanged.
func needsSMTPUTF8(m *queue.Message, idxs []int, body []byte) bool {
	if !mailtext.IsASCII(m.From) {
		return true
	}
	for _, i := range idxs {
		if !mailtext.IsASCII(m.Recipients[i].Addr) {
			return true
		}
	}
	h, _, _ := header.Split(body)
	return has8bit(h)
}

// has8bit reports whether body has an octet above 127.
func has8bit(body []byte) bool {
	for _, b := range body {
		if b >= 0x80 {
			return true
		}
	}
	return false
}
