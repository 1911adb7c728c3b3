package submission

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"

	"github.com/emersion/go-smtp"

	"github.com/mxout/mxout/queue"
)

// Sender is the sender rules of a client that is not an SMTP user (an
// HTTP API key): the same patterns, applied the same way, as a user's
// allowed senders.
type Sender struct{ acc *account }

// NewSender parses the patterns ("*", "*@example.com", "a@example.com") of
// the client called name; without patterns, only name itself, when it is
// an address, may be used.
func NewSender(name string, patterns []string) (*Sender, error) {
	acc, err := newAccount(name, patterns)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", name, err)
	}
	return &Sender{acc: acc}, nil
}

// Incoming is a message handed to the relay other than over SMTP.
type Incoming struct {
	// ID is the queue ID to store it under; a Message-ID the caller made
	// may already carry it.
	ID queue.ID
	// Env is the envelope: From, To, User (the sender's name), Client
	// (its address, for logs), UTF8, and what the queue keeps for events.
	Env queue.Envelope
	// Body is the message, with CRLF line ends.
	Body []byte
	// Sender's rules apply to the envelope sender, the From: header and
	// the DKIM signing domain.
	Sender *Sender
	// Protocol is the Received field's "with": HTTP or HTTPS.
	Protocol string
	// IP is the client's address, for the Received field.
	IP netip.Addr
	// Queue stores the message; nil means the server's queue.
	Queue Queue
}

// Accept applies to in what SMTP submission applies to an authenticated
// user's message, and queues it: the size and recipient limits, the
// address rules, the sender's patterns for the envelope sender and (with
// CheckHeaderFrom) the From: header, line ends and line length, the hop
// count, the Received, Message-ID and Date fields, the DKIM signature.
// It returns the queue ID once the message is synced to disk, or the
// *smtp.SMTPError that SMTP would have answered.
func (s *Server) Accept(ctx context.Context, in Incoming) (queue.ID, error) {
	if in.Sender == nil {
		return "", errors.New("submission: accept without a sender")
	}
	if rf := s.checkIncoming(&in); rf != nil {
		s.m.MessagesRejected.WithLabelValues(rf.reason).Inc()
		return "", rf.reply
	}
	room := s.room()
	msg := &msgBuf{buf: append(make([]byte, room, room+len(in.Body)), in.Body...), start: room}
	q := in.Queue
	if q == nil {
		q = s.q
	}
	now := s.now()
	st := stamp{ID: in.ID, Hostname: s.cfg.Hostname, Helo: "api", IP: in.IP, HideIP: s.cfg.HideClientIP,
		Auth: true, Now: now, Protocol: in.Protocol}
	if s.cfg.ReceivedHeaderAuth {
		st.User = in.Sender.acc.name
	}
	if len(in.Env.To) == 1 {
		st.Rcpt = in.Env.To[0].Addr
	}
	stored, size, rf := s.store(ctx, &arrival{env: in.Env, msg: msg, user: in.Sender.acc, stamp: st, q: q})
	if rf != nil {
		s.m.MessagesRejected.WithLabelValues(rf.reason).Inc()
		return "", rf.reply
	}
	s.log.Info("accepted", "queue_id", stored, "message_id", loggedMessageID(msg.bytes()), "client", in.Env.Client, "api_key", in.Env.User,
		"from", in.Env.From, "rcpts", len(in.Env.To), "size", size, "via", in.Protocol)
	return stored, nil
}

// checkIncoming applies the checks SMTP makes from MAIL to the end of
// DATA, before the message is stored.
func (s *Server) checkIncoming(in *Incoming) *refusal {
	env := &in.Env
	switch {
	case int64(len(in.Body)) > s.cfg.MaxMessageBytes:
		tooLarge := *smtp.ErrDataTooLarge // a copy: the shared value must not leave
		return &refusal{&tooLarge, ReasonSize, true}
	case len(env.To) == 0:
		return &refusal{replyBadSequence(), ReasonBadAddress, true}
	case len(env.To) > s.cfg.MaxRecipients:
		return &refusal{replyTooManyRecipients(), ReasonTooManyRecipients, true}
	case env.From == "" || checkAddress(env.From, env.UTF8) != nil:
		return &refusal{replyBadSender(), ReasonBadAddress, true}
	case !in.Sender.acc.mayUse(env.From):
		s.log.Warn("sender denied", "client", env.Client, "api_key", env.User, "from", env.From)
		return &refusal{replySenderDenied(), ReasonSenderDenied, true}
	}
	for _, to := range env.To {
		if checkAddress(to.Addr, env.UTF8) != nil {
			return &refusal{replyBadRecipient(), ReasonBadAddress, true}
		}
	}
	// The line rules of the DATA reader: CRLF only, lines within bounds.
	if _, err := io.Copy(io.Discard, newCRLFReader(bytes.NewReader(in.Body), s.cfg.MaxLineLength)); err != nil {
		rep, reason := dataReply(err)
		return &refusal{rep, reason, true}
	}
	return nil
}
