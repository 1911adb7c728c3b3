package queue

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Receipts are the answers kept for idempotent submissions (the HTTP
// API's Idempotency-Key): stored in the same transaction as the message
// they answer for, so that a repeat after a crash finds either both or
// neither. Keys:
//
//	r<key>   value: expiry (8 bytes, Unix ns), then the answer
const prefixReceipt = 'r'

// Bounds of a receipt.
const (
	MaxReceiptKey    = 512
	MaxReceiptAnswer = 4096
)

// Receipt is the answer to a submission, kept until Expires.
type Receipt struct {
	// Key names the submission (for the API: the key's name and the
	// Idempotency-Key).
	Key     string
	Answer  []byte
	Expires time.Time
}

func receiptKey(key string) []byte { return append([]byte{prefixReceipt}, key...) }

// write returns the receipt's write; a nil receipt writes nothing.
func (rc *Receipt) write() (func(*badger.Txn) error, error) {
	if rc == nil {
		return func(*badger.Txn) error { return nil }, nil
	}
	if rc.Key == "" || len(rc.Key) > MaxReceiptKey || len(rc.Answer) > MaxReceiptAnswer {
		return nil, fmt.Errorf("receipt %.40q: want a key of 1 to %d bytes and an answer of at most %d", rc.Key, MaxReceiptKey, MaxReceiptAnswer)
	}
	v := binary.BigEndian.AppendUint64(nil, uint64(rc.Expires.UnixNano()))
	v = append(v, rc.Answer...)
	key := receiptKey(rc.Key)
	return func(txn *badger.Txn) error { return txn.Set(key, v) }, nil
}

// EnqueueWithReceipt is Enqueue that also keeps rc, in the same
// transaction as the message: Receipt(rc.Key) finds it once this returns,
// and never finds it for a message that was not stored.
func (q *Queue) EnqueueWithReceipt(ctx context.Context, id ID, env Envelope, body []byte, rc Receipt) (ID, error) {
	return q.enqueue(ctx, id, env, body, &rc)
}

// Receipt returns the answer kept under key; ok is false when there is
// none or it has expired.
func (q *Queue) Receipt(key string) (answer []byte, ok bool, err error) {
	if q.closed.Load() {
		return nil, false, ErrClosed
	}
	now := q.now()
	err = q.db.View(func(txn *badger.Txn) error {
		return readValue(txn, receiptKey(key), func(v []byte) error {
			if len(v) < 8 {
				return fmt.Errorf("receipt of %d bytes", len(v))
			}
			if now.UnixNano() < int64(binary.BigEndian.Uint64(v[:8])) {
				answer, ok = bytes.Clone(v[8:]), true
			}
			return nil
		})
	})
	if errors.Is(err, ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("receipt %.40q: %w", key, err)
	}
	return answer, ok, nil
}

// PruneReceipts deletes the receipts that expired before now, and returns
// how many. Receipts are few (one per idempotent request in a day), so it
// reads them all, keys and expiry only.
func (q *Queue) PruneReceipts(now time.Time) (int, error) {
	if q.closed.Load() {
		return 0, ErrClosed
	}
	n, err := q.pruneBatches(func() (int, func(*badger.Txn) error, error) {
		old, err := q.expiredReceipts(now)
		return len(old), func(txn *badger.Txn) error {
			for _, k := range old {
				if err := txn.Delete(k); err != nil {
					return err
				}
			}
			return nil
		}, err
	})
	if err != nil {
		return n, fmt.Errorf("prune receipts: %w", err)
	}
	return n, nil
}

// expiredReceipts returns the keys of up to pruneBatch receipts that
// expired before now.
func (q *Queue) expiredReceipts(now time.Time) ([][]byte, error) {
	var old [][]byte
	err := q.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixReceipt}, PrefetchValues: true, PrefetchSize: 100})
		defer it.Close()
		for it.Rewind(); it.Valid() && len(old) < pruneBatch; it.Next() {
			err := it.Item().Value(func(v []byte) error {
				if len(v) < 8 || int64(binary.BigEndian.Uint64(v[:8])) <= now.UnixNano() {
					old = append(old, it.Item().KeyCopy(nil))
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	return old, err
}
