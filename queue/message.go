package queue

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// State is a recipient's delivery state.
type State uint8

// Recipient states. Pending recipients are retried; the others are final.
const (
	Pending State = iota
	Delivered
	Failed
)

// String names the state as the admin API and logs show it.
func (s State) String() string {
	switch s {
	case Pending:
		return "pending"
	case Delivered:
		return "delivered"
	case Failed:
		return "failed"
	default:
		return fmt.Sprintf("state(%d)", uint8(s))
	}
}

// MarshalText implements encoding.TextMarshaler.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *State) UnmarshalText(b []byte) error {
	switch string(b) {
	case "pending":
		*s = Pending
	case "delivered":
		*s = Delivered
	case "failed":
		*s = Failed
	default:
		return fmt.Errorf("unknown recipient state %q", b)
	}
	return nil
}

// Envelope is what a submitter hands to Enqueue besides the body.
type Envelope struct {
	// From is the envelope sender; "" is the null sender <> of bounces.
	From string `json:"from"`
	// To are the recipients, in order.
	To []RecipientParams `json:"-"`
	// DSN holds the RFC 3461 MAIL parameters (RET, ENVID), if given.
	DSN MessageDSN `json:"dsn,omitzero"`
	// Client and User describe the submitter for logs (may be empty).
	Client string `json:"client,omitempty"`
	User   string `json:"user,omitempty"`
	// UTF8 records that the message needs SMTPUTF8 on the next hop.
	UTF8 bool `json:"utf8,omitempty"`
	// API records that the message came through the HTTP API; User is
	// then the API key's name.
	API bool `json:"api,omitempty"`
	// Metadata is the application's data (from the API), copied into the
	// message's delivery events.
	Metadata map[string]string `json:"metadata,omitempty"`
}

// MessageDSN holds the RFC 3461 MAIL FROM parameters.
type MessageDSN struct {
	Ret   string `json:"ret,omitempty"`   // FULL or HDRS
	EnvID string `json:"envid,omitempty"` // ENVID, decoded
}

// RecipientParams is one recipient as submitted.
type RecipientParams struct {
	Addr string `json:"addr"`
	// Notify holds NOTIFY values (NEVER, SUCCESS, FAILURE, DELAY); empty
	// means the RFC 3461 default.
	Notify []string `json:"notify,omitempty"`
	// ORCPT is the original recipient as "type;address", if given.
	ORCPT string `json:"orcpt,omitempty"`
}

// Recipient is a recipient's stored delivery state.
type Recipient struct {
	RecipientParams
	State        State     `json:"state"`
	Attempts     int       `json:"attempts,omitempty"`
	LastAttempt  time.Time `json:"last_attempt,omitzero"`
	NextAttempt  time.Time `json:"next_attempt,omitzero"`
	LastResponse string    `json:"last_response,omitempty"`
	// Status is the enhanced status code of the last result (e.g. 5.1.1).
	Status string `json:"status,omitempty"`
	// RemoteMTA is the host that gave the last response, if any.
	RemoteMTA string `json:"remote_mta,omitempty"`
}

// Message is a queued message's envelope and per-recipient state. The body
// is stored apart and read with Queue.Body.
type Message struct {
	ID ID `json:"id"`
	Envelope
	Arrival    time.Time   `json:"arrival"`
	Size       int64       `json:"size"`
	Recipients []Recipient `json:"recipients"`
	// Held messages are never delivered until released.
	Held bool `json:"held,omitempty"`
	// Due is the next time the message is due; zero while held.
	Due time.Time `json:"due,omitzero"`
	// DelayNotified records that a delay notice was sent.
	DelayNotified bool `json:"delay_notified,omitempty"`
	// Quarantine is set on a message whose record could not be read and
	// was moved aside (listed with State "quarantined", or from Get); the
	// other fields then hold what could be read of it. Never stored.
	Quarantine *Quarantine `json:"-"`
}

// clone copies m deeply enough that writing results to either (State,
// attempts, responses, due times) leaves the other as it was.
func (m *Message) clone() *Message {
	c := *m
	c.Recipients = slices.Clone(m.Recipients)
	return &c
}

// Deferred reports whether some pending recipient has been tried before,
// which is what separates "deferred" from "ready" in the queue counts.
func (m *Message) Deferred() bool {
	for _, r := range m.Recipients {
		if r.State == Pending && r.Attempts > 0 {
			return true
		}
	}
	return false
}

// DueRecipients lists the indexes of pending recipients due at now.
func (m *Message) DueRecipients(now time.Time) []int {
	var out []int
	for i, r := range m.Recipients {
		if r.State == Pending && !r.NextAttempt.After(now) {
			out = append(out, i)
		}
	}
	return out
}

// nextDue is the earliest next attempt of a pending recipient; zero if none
// is pending.
func (m *Message) nextDue() time.Time {
	var due time.Time
	for _, r := range m.Recipients {
		if r.State != Pending {
			continue
		}
		if due.IsZero() || r.NextAttempt.Before(due) {
			due = r.NextAttempt
		}
	}
	return due
}

// DueDomain is the domain of the pending recipient that is due first (the
// first of them on a tie), lowercased: the destination a scheduler admits
// the message by. The due index keeps it for LeaseFiltered.
func (m *Message) DueDomain() string {
	first := -1
	for i, r := range m.Recipients {
		if r.State == Pending && (first < 0 || r.NextAttempt.Before(m.Recipients[first].NextAttempt)) {
			first = i
		}
	}
	if first < 0 {
		return ""
	}
	return Domain(m.Recipients[first].Addr)
}

// final reports whether every recipient has a final state.
func (m *Message) final() bool {
	for _, r := range m.Recipients {
		if r.State == Pending {
			return false
		}
	}
	return true
}

// Domain returns the part of addr after the last '@', lowercased.
func Domain(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return ""
	}
	return strings.ToLower(addr[at+1:])
}

func encodeMessage(m *Message) ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode message %s: %w", m.ID, err)
	}
	return b, nil
}

// errUnreadable marks a stored message record that cannot be used: not
// JSON, or not a message. Such a record is quarantined (quarantine.go).
var errUnreadable = errors.New("unreadable message record")

// decodeMessage reads a stored message record and checks it is usable.
func decodeMessage(b []byte) (*Message, error) {
	var m Message
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: %w", errUnreadable, err)
	}
	if _, err := ParseID(string(m.ID)); err != nil {
		return nil, fmt.Errorf("%w: %w", errUnreadable, err)
	}
	if len(m.Recipients) == 0 {
		return nil, fmt.Errorf("%w %s: no recipients", errUnreadable, m.ID)
	}
	return &m, nil
}
