package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/mxout/mxout/internal/header"
	"github.com/mxout/mxout/queue"
	"github.com/mxout/mxout/submission"
)

// ReceiptTTL is how long the answer to a request with an Idempotency-Key
// is kept: a repeat within it gets that answer and queues nothing.
const ReceiptTTL = 24 * time.Hour

// Accepter is SMTP submission's check-and-queue step (submission.Server).
type Accepter interface {
	Accept(ctx context.Context, in submission.Incoming) (queue.ID, error)
}

// ReceiptQueue is what the front needs from the queue.
type ReceiptQueue interface {
	Enqueue(ctx context.Context, id queue.ID, env queue.Envelope, body []byte) (queue.ID, error)
	EnqueueWithReceipt(ctx context.Context, id queue.ID, env queue.Envelope, body []byte, rc queue.Receipt) (queue.ID, error)
	Receipt(key string) ([]byte, bool, error)
}

// Front is the Queue that the relay gives the Server: every message goes
// through SMTP submission's checks into the durable queue, and the answer
// to a request with an Idempotency-Key is kept in the queue in the same
// commit as its message, so that a repeat finds it even after a crash.
type Front struct {
	accept  Accepter
	q       ReceiptQueue
	senders atomic.Pointer[map[string]*submission.Sender] // swapped by SetKeys
	now     func() time.Time
}

// NewFront joins accept and q for keys; now nil means time.Now.
func NewFront(accept Accepter, q ReceiptQueue, keys []Key, now func() time.Time) (*Front, error) {
	if now == nil {
		now = time.Now
	}
	f := &Front{accept: accept, q: q, now: now}
	if err := f.SetKeys(keys); err != nil {
		return nil, err
	}
	return f, nil
}

// SetKeys replaces the keys' sender rules (a reload).
func (f *Front) SetKeys(keys []Key) error {
	senders := make(map[string]*submission.Sender, len(keys))
	for _, k := range keys {
		s, err := submission.NewSender(k.Name, k.AllowedSenders)
		if err != nil {
			return fmt.Errorf("api key %w", err)
		}
		senders[k.Name] = s
	}
	f.senders.Store(&senders)
	return nil
}

// Submit implements Queue.
func (f *Front) Submit(ctx context.Context, m *Message) (Receipt, error) {
	sender := (*f.senders.Load())[m.Key.Name]
	if sender == nil {
		return Receipt{}, fmt.Errorf("api key %q has no sender rules", m.Key.Name)
	}
	env := queue.Envelope{From: m.From, User: m.Key.Name, Client: m.Client, UTF8: m.UTF8, API: true, Metadata: m.Metadata}
	for _, to := range m.To {
		env.To = append(env.To, queue.RecipientParams{Addr: to})
	}
	rq := &receiptQueue{q: f.q}
	if m.IdempotencyKey != "" {
		rq.key, rq.expires = receiptKey(m.Key.Name, m.IdempotencyKey), f.now().Add(ReceiptTTL)
	}
	protocol := "HTTP"
	if m.TLS {
		protocol = "HTTPS"
	}
	_, err := f.accept.Accept(ctx, submission.Incoming{
		ID: m.ID, Env: env, Body: m.Body, Sender: sender, Protocol: protocol, IP: m.IP, Queue: rq,
	})
	if err != nil {
		return Receipt{}, err
	}
	return rq.answer, nil
}

// Replay implements Queue.
func (f *Front) Replay(_ context.Context, key, idempotencyKey string) (Receipt, bool, error) {
	b, ok, err := f.q.Receipt(receiptKey(key, idempotencyKey))
	if err != nil || !ok {
		return Receipt{}, false, err
	}
	var rc Receipt
	if err := json.Unmarshal(b, &rc); err != nil {
		return Receipt{}, false, fmt.Errorf("receipt of %q: %w", idempotencyKey, err)
	}
	return rc, true, nil
}

// receiptKey names a key's request in the queue's receipts.
func receiptKey(key, idempotencyKey string) string { return "api\x00" + key + "\x00" + idempotencyKey }

// receiptQueue stores the message that submission hands it, with the
// answer made from the message as stored (its Message-ID is the one the
// stamp kept or added).
type receiptQueue struct {
	q       ReceiptQueue
	key     string // "" without an Idempotency-Key
	expires time.Time
	answer  Receipt
}

func (r *receiptQueue) Enqueue(ctx context.Context, id queue.ID, env queue.Envelope, body []byte) (queue.ID, error) {
	rc := Receipt{ID: string(id), MessageID: messageIDOf(body), Recipients: len(env.To)}
	var stored queue.ID
	var err error
	if r.key == "" {
		stored, err = r.q.Enqueue(ctx, id, env, body)
	} else {
		answer, jerr := json.Marshal(rc)
		if jerr != nil {
			return "", jerr
		}
		stored, err = r.q.EnqueueWithReceipt(ctx, id, env, body, queue.Receipt{Key: r.key, Answer: answer, Expires: r.expires})
	}
	if err != nil {
		return "", err
	}
	if stored != id {
		return "", errors.New("the queue stored the message under another ID")
	}
	r.answer = rc
	return stored, nil
}

// messageIDOf is the stored message's Message-ID field.
func messageIDOf(body []byte) string {
	v, ok := header.First(body, "Message-ID")
	if !ok {
		return ""
	}
	return header.Unfold(v)
}
