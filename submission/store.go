package submission

import (
	"context"

	"github.com/emersion/go-smtp"

	"github.com/mxout/mxout/queue"
)

// arrival is a message whose data is in, for the steps that SMTP's DATA
// and the other ways in (Accept) share: the checks that need the whole
// message, the stamp, the DKIM signature and the queue.
type arrival struct {
	env queue.Envelope
	msg *msgBuf
	// user's rules apply; nil for a trusted client without AUTH.
	user  *account
	stamp stamp // with the queue ID and the time
	q     Queue
}

// refusal is a reply that refuses a message, and why (a value of the
// reason label). client is set when the client caused it: SMTP counts
// those towards MaxErrors.
type refusal struct {
	reply  *smtp.SMTPError
	reason string
	client bool
}

// store checks a's hop count and, for a user with CheckHeaderFrom, its
// From: header; then stamps it, signs it and queues it. It returns the
// stored ID and size once the queue has synced the message.
func (s *Server) store(ctx context.Context, a *arrival) (queue.ID, int, *refusal) {
	body := a.msg.bytes()
	if n := countReceived(body); n > maxHops {
		s.log.Warn("too many hops, mail loop?", "client", a.env.Client, "user", a.env.User, "from", a.env.From, "received_fields", n)
		return "", 0, &refusal{replyTooManyHops(), ReasonTooManyHops, false}
	}
	if s.cfg.CheckHeaderFrom && a.user != nil && !a.user.mayUseHeaderFrom(body) {
		s.log.Warn("header From denied", "client", a.env.Client, "user", a.user.name, "from", a.env.From)
		return "", 0, &refusal{replyHeaderFromDenied(), ReasonSenderDenied, true}
	}
	id := a.stamp.ID
	a.msg.prepend(stampFields(body, a.stamp))
	if s.cfg.Signer != nil {
		var maySign func(domain string) bool // a trusted client without AUTH: any domain
		if a.user != nil {
			maySign = a.user.mayUseDomain
		}
		sig, err := s.cfg.Signer.Signatures(a.msg.bytes(), a.env.From, maySign)
		if err != nil {
			rep, reason := signReply(err)
			s.log.Warn("dkim: message not signed, refused", "queue_id", id, "client", a.env.Client, "user", a.env.User, "from", a.env.From, "reply", rep.Code, "err", err)
			return "", 0, &refusal{rep, reason, false}
		}
		a.msg.prepend(sig.Fields)
		a.msg.appendBytes(sig.Separator)
	}
	msg := a.msg.bytes()
	stored, err := a.q.Enqueue(ctx, id, a.env, msg)
	if err != nil {
		s.log.Error("enqueue failed", "queue_id", id, "client", a.env.Client, "from", a.env.From, "err", err)
		return "", 0, &refusal{replyStorage(), ReasonStorage, false}
	}
	s.m.MessagesAccepted.Inc()
	return stored, len(msg), nil
}
