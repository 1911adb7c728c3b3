package queue

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/dgraph-io/badger/v4"
)

// Key-value areas keep small state that other parts of the relay must not
// lose in a restart (MTA-STS policies, TLS report counts) in the queue's
// database, so that there is one data directory to back up and one disk
// reserve. Their keys are
//
//	k<area>\x00<key>
//
// apart from every message key. Values are synced like the queue's own
// writes.
const prefixKV = 'k'

// MaxKVValue bounds one value: these areas hold small records, never mail.
const MaxKVValue = 1 << 20

// KV is one key-value area of the queue's database. Its methods are safe
// for concurrent use.
type KV struct {
	q      *Queue
	prefix []byte
}

// KV returns the key-value area named area (letters, digits, '-', '_' and
// '.'; such as "mta-sts"). Areas are independent of each other and of the
// messages.
func (q *Queue) KV(area string) (*KV, error) {
	if area == "" || strings.IndexFunc(area, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_' || r == '.')
	}) >= 0 {
		return nil, fmt.Errorf("queue: bad key-value area name %q", area)
	}
	return &KV{q: q, prefix: append(append([]byte{prefixKV}, area...), 0)}, nil
}

func (kv *KV) key(k string) []byte { return append(bytes.Clone(kv.prefix), k...) }

// Get returns the value of key, or ErrNotFound.
func (kv *KV) Get(key string) ([]byte, error) {
	if kv.q.closed.Load() {
		return nil, ErrClosed
	}
	var v []byte
	err := kv.q.db.View(func(txn *badger.Txn) error {
		return readValue(txn, kv.key(key), func(b []byte) error {
			v = bytes.Clone(b)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("get %q: %w", key, err)
	}
	return v, nil
}

// Put stores value under key and returns once it is synced. It refuses
// (ErrNoSpace) below the disk reserve, as Enqueue does.
func (kv *KV) Put(key string, value []byte) error {
	if len(value) > MaxKVValue {
		return fmt.Errorf("put %q: %d bytes, more than %d", key, len(value), MaxKVValue)
	}
	if err := kv.writable(); err != nil {
		return fmt.Errorf("put %q: %w", key, err)
	}
	if err := kv.q.checkSpace(int64(len(key) + len(value))); err != nil {
		return fmt.Errorf("put %q: %w", key, err)
	}
	k, v := kv.key(key), bytes.Clone(value)
	if err := kv.q.commit(func(txn *badger.Txn) error { return txn.Set(k, v) }); err != nil {
		return fmt.Errorf("put %q: %w", key, err)
	}
	return nil
}

// Delete removes key; a missing key is not an error.
func (kv *KV) Delete(key string) error {
	if err := kv.writable(); err != nil {
		return fmt.Errorf("delete %q: %w", key, err)
	}
	k := kv.key(key)
	if err := kv.q.commit(func(txn *badger.Txn) error { return txn.Delete(k) }); err != nil {
		return fmt.Errorf("delete %q: %w", key, err)
	}
	return nil
}

// Each calls fn for every key of the area in key order, until fn returns
// an error, which Each returns. fn must not keep value: copy it.
func (kv *KV) Each(fn func(key string, value []byte) error) error {
	if kv.q.closed.Load() {
		return ErrClosed
	}
	return kv.q.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: kv.prefix, PrefetchValues: true, PrefetchSize: 64})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			key := string(item.Key()[len(kv.prefix):])
			if err := item.Value(func(v []byte) error { return fn(key, v) }); err != nil {
				return err
			}
		}
		return nil
	})
}

func (kv *KV) writable() error {
	switch {
	case kv.q.closed.Load():
		return ErrClosed
	case kv.q.readOnly:
		return ErrReadOnly
	}
	return nil
}
