package admin

import (
	"time"

	"github.com/mxout/mxout/queue"
)

// Stats is the JSON form of the queue's counts.
type Stats struct {
	Ready    int64 `json:"ready"`
	Deferred int64 `json:"deferred"`
	Inflight int64 `json:"inflight"`
	Held     int64 `json:"held"`
	Total    int64 `json:"total"`
	// Bytes is the total size of the queued bodies.
	Bytes int64 `json:"bytes"`
	// Oldest is the arrival time of the oldest message; absent when empty.
	Oldest time.Time `json:"oldest,omitzero"`
	// OldestAgeSeconds is how long ago Oldest was; 0 when empty.
	OldestAgeSeconds float64 `json:"oldest_age_seconds"`
	// Quarantined counts the messages whose record was unreadable and was
	// moved aside; they are not in Total.
	Quarantined int64 `json:"quarantined"`
}

// NewStats converts queue stats, with ages relative to now.
func NewStats(s queue.Stats, now time.Time) Stats {
	out := Stats{
		Ready: s.Ready, Deferred: s.Deferred, Inflight: s.Inflight, Held: s.Held,
		Total: s.Ready + s.Deferred + s.Inflight + s.Held,
		Bytes: s.Bytes, Oldest: s.Oldest, Quarantined: s.Quarantined,
	}
	if !s.Oldest.IsZero() {
		out.OldestAgeSeconds = max(now.Sub(s.Oldest).Seconds(), 0)
	}
	return out
}

// Message is the JSON form of a queued message.
type Message struct {
	ID queue.ID `json:"id"`
	// State is held, inflight, deferred, ready or quarantined.
	State   string    `json:"state"`
	From    string    `json:"from"`
	Arrival time.Time `json:"arrival"`
	Size    int64     `json:"size"`
	// Due is the next time the message is due; absent while held.
	Due        time.Time   `json:"due,omitzero"`
	Recipients []Recipient `json:"recipients"`
	// Ret and EnvID are the RFC 3461 MAIL parameters, if given.
	Ret   string `json:"ret,omitempty"`
	EnvID string `json:"envid,omitempty"`
	// Client and User describe the submitter.
	Client string `json:"client,omitempty"`
	User   string `json:"user,omitempty"`
	// Headers is the header section, only when asked for.
	Headers string `json:"headers,omitempty"`
	// HeadersWithheld says that headers were asked for but not given: the
	// request came over admin.listen without a token (only the admin
	// socket or the token may read them).
	HeadersWithheld bool `json:"headers_withheld,omitempty"`
	// Quarantine says why and when an unreadable record was moved aside;
	// the other fields then hold what could be read of it.
	Quarantine *Quarantine `json:"quarantine,omitempty"`
}

// Quarantine is the JSON form of queue.Quarantine.
type Quarantine struct {
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// Recipient is one recipient's delivery state.
type Recipient struct {
	Addr string `json:"addr"`
	// State is pending, delivered or failed.
	State        string    `json:"state"`
	Attempts     int       `json:"attempts"`
	LastAttempt  time.Time `json:"last_attempt,omitzero"`
	NextAttempt  time.Time `json:"next_attempt,omitzero"`
	LastResponse string    `json:"last_response,omitempty"`
	Status       string    `json:"status,omitempty"`
	RemoteMTA    string    `json:"remote_mta,omitempty"`
	Notify       []string  `json:"notify,omitempty"`
	ORCPT        string    `json:"orcpt,omitempty"`
}

// NewMessage converts a stored message; state is its queue state.
func NewMessage(m *queue.Message, state string) Message {
	out := Message{
		ID: m.ID, State: state, From: m.From, Arrival: m.Arrival, Size: m.Size, Due: m.Due,
		Ret: m.DSN.Ret, EnvID: m.DSN.EnvID, Client: m.Client, User: m.User,
		Recipients: make([]Recipient, len(m.Recipients)),
	}
	if m.Quarantine != nil {
		out.Quarantine = &Quarantine{Reason: m.Quarantine.Reason, At: m.Quarantine.At}
	}
	for i, r := range m.Recipients {
		out.Recipients[i] = Recipient{
			Addr: r.Addr, State: r.State.String(), Attempts: r.Attempts,
			LastAttempt: r.LastAttempt, NextAttempt: r.NextAttempt,
			LastResponse: r.LastResponse, Status: r.Status, RemoteMTA: r.RemoteMTA,
			Notify: r.Notify, ORCPT: r.ORCPT,
		}
	}
	return out
}

// Page is one page of a listing.
type Page struct {
	Messages []Message `json:"messages"`
	// Next is the after= of the following page; empty at the end.
	Next queue.ID `json:"next,omitempty"`
}

// Done answers a change to one message.
type Done struct {
	ID queue.ID `json:"id"`
	// Action is held, released, retried, deleted or bounced.
	Action string `json:"action"`
}

// Flushed answers a flush.
type Flushed struct {
	// Messages is how many deferred messages were made due now.
	Messages int `json:"messages"`
	// DestinationsRevived is how many dead or failing destinations the
	// flush made deliverable again at once.
	DestinationsRevived int `json:"destinations_revived"`
}

// apiError is the body of every error answer.
type apiError struct {
	Error string `json:"error"`
}
