package queue

import "time"

// Round is one delivery round of a leased message, or a part of it, as
// those who report on it see it: delivery makes it, the bounce notifier
// turns it into delivery status notifications. An operator's delete with
// a bounce is a round too, in which every pending recipient failed.
type Round struct {
	// Message is the message as it was before these results: as leased,
	// with the results of the round's earlier parts.
	Message *Message
	// Body is the stored body; nil if it could not be read.
	Body []byte
	// Results are this round's per-recipient results.
	Results []RoundResult
	// Time is when the round ended, or for a part of it, when that part
	// ended.
	Time time.Time
	// Partial reports that these are some of the round's results, one
	// destination's deliveries and deferrals, recorded as soon as its
	// transaction ended; the round's other results, its failures among
	// them, come later. Reports about the round as a whole (a delay
	// notice) wait for its last part, which sees every recipient's state.
	Partial bool
}

// RoundResult is one recipient's result in a round.
type RoundResult struct {
	Result
	// RemoteDSN reports that the server that took the recipient
	// advertised DSN, so NOTIFY and ORCPT went on to it (RFC 3461 §5.2.1)
	// and success notices are its to send. It is not recorded.
	RemoteDSN bool
	// MX is the server that answered, as host[ip]; "" when none did.
	// It is not recorded (RemoteMTA is), but goes into the round's events.
	MX string
	// Expired reports a failure because the message's lifetime ended
	// while the recipient kept failing temporarily. Not recorded.
	Expired bool
}

// Notified is what a notifier did about a round that the queue must
// record with the round's results (Update).
type Notified struct {
	// DelayNotified reports that a delay notice was queued, so that the
	// message gets no other.
	DelayNotified bool
}
