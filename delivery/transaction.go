package delivery

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-smtp"
	"github.com/mxout/mxout/queue"
)

// transact runs one SMTP transaction for the recipients at idxs and returns
// an outcome for each of them. broken reports that the connection can no
// longer be used (an I/O error or timeout, as opposed to a reply).
func (s *session) transact(m *queue.Message, body []byte, idxs []int) (out map[int]Outcome, broken bool) {
	out = make(map[int]Outcome, len(idxs))
	all := func(err error) {
		o := Classify(err, s.remoteMTA)
		for _, i := range idxs {
			if _, done := out[i]; !done {
				out[i] = o
			}
		}
	}
	c := s.client
	if m.UTF8 {
		if ok, _ := c.Extension("SMTPUTF8"); !ok {
			all(permanentLocal("5.6.7", "SMTPUTF8 is required, but was not offered by host %s", s.remoteMTA))
			return out, false
		}
	}
	if limit, ok := c.MaxMessageSize(); ok && limit > 0 && len(body) > limit {
		all(permanentLocal("5.3.4", "message size %d exceeds the limit of %d of host %s", len(body), limit, s.remoteMTA))
		return out, false
	}
	remoteDSN, _ := c.Extension("DSN")
	// go-smtp sends RET/ENVID and NOTIFY/ORCPT only when the server
	// advertises DSN (RFC 3461 §4: pass them on to the next hop).
	mailOpts := &smtp.MailOptions{
		Size: int64(len(body)), UTF8: m.UTF8,
		Return: smtp.DSNReturn(m.DSN.Ret), EnvelopeID: m.DSN.EnvID,
	}
	defer func() {
		for i, o := range out {
			o.RemoteDSN = remoteDSN
			out[i] = o
		}
	}()
	if err := c.Mail(m.From, mailOpts); err != nil {
		all(err)
		return out, !isReply(err)
	}
	var accepted []int
	for _, i := range idxs {
		err := c.Rcpt(m.Recipients[i].Addr, rcptOptions(m.Recipients[i].RecipientParams))
		if err == nil {
			accepted = append(accepted, i)
			continue
		}
		if !isReply(err) {
			all(err)
			return out, true
		}
		out[i] = Classify(err, s.remoteMTA)
	}
	if len(accepted) == 0 {
		return out, resetFailed(c)
	}
	w, err := c.Data()
	if err != nil {
		all(err)
		return out, !isReply(err) || resetFailed(c)
	}
	if _, err := w.Write(body); err != nil {
		all(err)
		return out, true
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		all(err)
		return out, !isReply(err)
	}
	ok := Outcome{State: queue.Delivered, Code: 250, Status: "2.0.0", Response: "250 " + oneLine(resp.StatusText), RemoteMTA: s.remoteMTA}
	if st := leadingStatus(resp.StatusText); st != "" {
		ok.Status = st
	}
	for _, i := range accepted {
		out[i] = ok
	}
	return out, false
}

// isReply reports whether err is a server reply rather than a broken
// connection or a local problem.
func isReply(err error) bool {
	var se *smtp.SMTPError
	return errors.As(err, &se)
}

// resetFailed sends RSET after an aborted transaction and reports whether
// the connection is unusable afterwards.
func resetFailed(c *smtp.Client) bool {
	return c.Reset() != nil
}

// leadingStatus returns an enhanced status code at the start of text.
func leadingStatus(text string) string {
	var a, b, c int
	if n, _ := fmt.Sscanf(text, "%d.%d.%d", &a, &b, &c); n == 3 && a == 2 {
		return fmt.Sprintf("%d.%d.%d", a, b, c)
	}
	return ""
}

func oneLine(s string) string {
	return string(bytes.Join(bytes.Fields([]byte(s)), []byte(" ")))
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
