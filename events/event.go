package events

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Type is what happened to one recipient.
type Type string

// The event types, in the order of a message's life.
const (
	// Delivered: the next hop accepted the recipient (2xx).
	Delivered Type = "delivered"
	// Deferred: one attempt failed temporarily; it will be retried.
	Deferred Type = "deferred"
	// Delayed: a delay notice (DSN) was sent for the recipient.
	Delayed Type = "delayed"
	// Bounced: the recipient failed permanently (5xx, null MX, ...).
	Bounced Type = "bounced"
	// Expired: the recipient was still failing when its lifetime ended.
	Expired Type = "expired"
)

// Types lists every type.
var Types = []Type{Delivered, Deferred, Delayed, Bounced, Expired}

// ParseType checks that s names a type.
func ParseType(s string) (Type, error) {
	if !slices.Contains(Types, Type(s)) {
		return "", fmt.Errorf("event type %q: want one of delivered, deferred, delayed, bounced, expired", s)
	}
	return Type(s), nil
}

// Event is one per-recipient outcome. Its JSON form is what webhooks and
// the feed send; every field is always present.
type Event struct {
	// ID is stable (a retried webhook carries the same) and unique:
	// receivers deduplicate by it.
	ID   string    `json:"id"`
	Type Type      `json:"type"`
	Time time.Time `json:"time"` // RFC 3339, UTC
	// QueueID is the relay's ID of the message, as in the 250 reply and
	// the 202 answer.
	QueueID   string `json:"queue_id"`
	MessageID string `json:"message_id"`
	Sender    string `json:"sender"`
	Recipient string `json:"recipient"`
	// DSN is the enhanced status code (RFC 3463), e.g. 2.0.0.
	DSN string `json:"dsn"`
	// Reply is the remote server's reply, or the relay's reason when there
	// was none (DNS, connection).
	Reply string `json:"reply"`
	// MX is the host that answered, as host[ip]; empty without one.
	MX string `json:"mx"`
	// Attempt counts the delivery attempts for this recipient so far.
	Attempt  int               `json:"attempt"`
	Metadata map[string]string `json:"metadata"`
	// Owner sent the message; it selects events for keys but is not sent.
	Owner Owner `json:"-"`
}

// Owner is who handed the message to the relay: an API key or an SMTP
// user. A message from a trusted network without AUTH has none.
type Owner struct {
	Kind OwnerKind
	Name string
}

// OwnerKind tells API keys from SMTP users, whose names may coincide.
type OwnerKind string

// Owner kinds.
const (
	KindAPI  OwnerKind = "api"
	KindSMTP OwnerKind = "smtp"
)

// String is "api:<name>" or "smtp:<name>"; "" for no owner. The queue
// indexes events by it.
func (o Owner) String() string {
	if o.Name == "" {
		return ""
	}
	return string(o.Kind) + ":" + o.Name
}

// parseOwner reads what String wrote.
func parseOwner(s string) Owner {
	kind, name, ok := strings.Cut(s, ":")
	if !ok || name == "" {
		return Owner{}
	}
	return Owner{Kind: OwnerKind(kind), Name: name}
}

// stored is an event as the queue keeps it: the wire fields and the owner.
type stored struct {
	Event
	Owner string `json:"owner,omitempty"`
}

// Encode returns the stored form of e.
func Encode(e *Event) ([]byte, error) {
	s := stored{Event: *e, Owner: e.Owner.String()}
	s.Time = s.Time.UTC()
	if s.Metadata == nil {
		s.Metadata = map[string]string{}
	}
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode event %s: %w", e.ID, err)
	}
	return b, nil
}

// Decode reads what Encode wrote.
func Decode(b []byte) (*Event, error) {
	var s stored
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("decode event: %w", err)
	}
	e := s.Event
	e.Owner = parseOwner(s.Owner)
	if e.Metadata == nil {
		e.Metadata = map[string]string{}
	}
	return &e, nil
}
