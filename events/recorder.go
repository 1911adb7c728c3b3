package events

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/mxout/mxout/internal/header"
	"github.com/mxout/mxout/queue"
)

// Recorder turns a delivery round into the event records that the queue
// writes with the round's results. It is safe for concurrent use.
type Recorder struct {
	// DelayAfter is delivery.retry.delay_notice_after: a recipient still
	// pending this long after the message arrived gets one delayed event,
	// in the first round past that time (when a sender who asked with
	// NOTIFY=DELAY gets its delay notice). 0: no delayed events.
	DelayAfter time.Duration
	// Count, when set, is told the type of every event written.
	Count func(Type)
}

// Round returns the events of r, in the order of its results: for each
// attempted recipient one of delivered, deferred, bounced or expired, and
// before a deferral that passes DelayAfter, a delayed event. Recipients
// held back without an attempt (postponed) get none.
func (rec *Recorder) Round(r queue.Round) []queue.EventRecord {
	m := r.Message
	base := Event{
		QueueID: string(m.ID), MessageID: messageID(r.Body), Sender: m.From,
		Metadata: m.Metadata, Owner: ownerOf(m),
	}
	var out []queue.EventRecord
	for _, res := range r.Results {
		if res.Postponed {
			continue
		}
		rc := m.Recipients[res.Index]
		e := base
		e.Recipient, e.DSN, e.Reply, e.MX = rc.Addr, res.Status, res.Response, res.MX
		e.Attempt = rc.Attempts + 1
		e.Time = res.Attempted
		e.Type = typeOf(res)
		if e.Type == Deferred && rec.crossesDelay(m, rc, r.Time) {
			d := e
			d.Type, d.Time = Delayed, r.Time
			out = append(out, record(&d))
		}
		out = append(out, record(&e))
	}
	return out
}

// Written counts the records the queue has written.
func (rec *Recorder) Written(recs []queue.EventRecord) {
	if rec.Count == nil {
		return
	}
	for _, r := range recs {
		var t struct {
			Type Type `json:"type"`
		}
		if json.Unmarshal(r.Data, &t) == nil {
			rec.Count(t.Type)
		}
	}
}

func typeOf(res queue.RoundResult) Type {
	switch {
	case res.State == queue.Delivered:
		return Delivered
	case res.State == queue.Failed && res.Expired:
		return Expired
	case res.State == queue.Failed:
		return Bounced
	}
	return Deferred
}

// crossesDelay reports whether the recipient passes DelayAfter in the
// round that ends at now: it had not at its previous attempt.
func (rec *Recorder) crossesDelay(m *queue.Message, rc queue.Recipient, now time.Time) bool {
	if rec.DelayAfter <= 0 || now.Sub(m.Arrival) < rec.DelayAfter {
		return false
	}
	return rc.LastAttempt.IsZero() || rc.LastAttempt.Sub(m.Arrival) < rec.DelayAfter
}

// ownerOf is who submitted m: its API key, or its SMTP user.
func ownerOf(m *queue.Message) Owner {
	switch {
	case m.User == "":
		return Owner{}
	case m.API:
		return Owner{Kind: KindAPI, Name: m.User}
	}
	return Owner{Kind: KindSMTP, Name: m.User}
}

// maxMessageID bounds the Message-ID copied into every event.
const maxMessageID = 998

// messageID is the message's Message-ID field, "" without one.
func messageID(body []byte) string {
	v, ok := header.First(body, "Message-ID")
	if !ok {
		return ""
	}
	id := strings.TrimSpace(header.Unfold(v))
	if len(id) > maxMessageID {
		return ""
	}
	return id
}

// record makes the queue's record of e, with a new ID.
func record(e *Event) queue.EventRecord {
	e.ID = string(queue.NewID(e.Time))
	data, err := Encode(e)
	if err != nil {
		// Every field is a string, a number, a time or a string map: JSON
		// encoding cannot fail. Keep the event with what is known.
		data, _ = json.Marshal(map[string]string{"id": e.ID, "type": string(e.Type)})
	}
	tag := e.Owner.String()
	if len(tag) > queue.MaxEventTag || strings.IndexByte(tag, 0) >= 0 {
		tag = "" // not indexed (the feed shows API keys' events only), but never unwritable
	}
	return queue.EventRecord{Time: e.Time, Tag: tag, Data: data}
}
