package queue

import (
	"encoding/binary"
	"time"
)

// Key layout. Every key starts with a one-byte prefix:
//
//	m<id>            message record (JSON Message)
//	b<id>            body (large: badger's value log)
//	d<due><id>       due index; <due> is 8 bytes of big-endian Unix nanoseconds,
//	                 so a prefix scan yields messages in due order.
//	                 Value: dueValue (kind, size, next domain), for counting and
//	                 scheduling without reading records.
//	h<id>            held messages; value: size
//	k<area>\0<key>   key-value areas for other parts of the relay (kv.go)
//	q<id>            quarantined message records that could not be read;
//	                 value: quarantined (quarantine.go). The body stays at b<id>.
const (
	prefixMessage    = 'm'
	prefixBody       = 'b'
	prefixDue        = 'd'
	prefixHeld       = 'h'
	prefixQuarantine = 'q'
)

func messageKey(id ID) []byte    { return append([]byte{prefixMessage}, id...) }
func bodyKey(id ID) []byte       { return append([]byte{prefixBody}, id...) }
func heldKey(id ID) []byte       { return append([]byte{prefixHeld}, id...) }
func quarantineKey(id ID) []byte { return append([]byte{prefixQuarantine}, id...) }

// messageKeyAt is the first message key of every message that arrived at
// or after t: IDs start with their time and sort by it.
func messageKeyAt(t time.Time) []byte {
	var b [idBytes]byte
	binary.BigEndian.PutUint64(b[:8], uint64(max(t.UnixNano(), 0)))
	return append([]byte{prefixMessage}, idEncoding.EncodeToString(b[:])...)
}

func dueKey(due time.Time, id ID) []byte {
	k := make([]byte, 1+8+len(id))
	k[0] = prefixDue
	binary.BigEndian.PutUint64(k[1:9], uint64(max(due.UnixNano(), 0)))
	copy(k[9:], id)
	return k
}

// parseDueKey splits a due-index key; ok is false for a malformed key.
func parseDueKey(k []byte) (due time.Time, id ID, ok bool) {
	if len(k) != 1+8+idLen || k[0] != prefixDue {
		return time.Time{}, "", false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(k[1:9]))), ID(k[9:]), true
}

// dueKeyAt is the first due key of every entry due at or after t.
func dueKeyAt(t time.Time) []byte {
	k := make([]byte, 9)
	k[0] = prefixDue
	binary.BigEndian.PutUint64(k[1:9], uint64(max(t.UnixNano(), 0)))
	return k
}

// dueKeyUpTo is the first due key after every entry due at or before t.
func dueKeyUpTo(t time.Time) []byte {
	k := make([]byte, 9)
	k[0] = prefixDue
	binary.BigEndian.PutUint64(k[1:9], uint64(max(t.UnixNano(), 0))+1)
	return k
}

// kind separates never-tried messages from deferred ones in the counts.
type kind byte

const (
	kindReady    kind = 'r'
	kindDeferred kind = 'd'
)

func kindOf(m *Message) kind {
	if m.Deferred() {
		return kindDeferred
	}
	return kindReady
}

// dueValue is the value of a due-index entry: kind, size, then the domain
// of the recipient the message is next due for (Message.DueDomain), so
// that a scan can count and schedule without reading records.
func dueValue(m *Message) []byte {
	d := m.DueDomain()
	v := make([]byte, 9, 9+len(d))
	v[0] = byte(kindOf(m))
	binary.BigEndian.PutUint64(v[1:], uint64(m.Size))
	return append(v, d...)
}

// parseDueValue reads a due-index value. Entries written before the
// domain was added have none; they parse with an empty domain.
func parseDueValue(v []byte) (k kind, size int64, domain string, ok bool) {
	if len(v) < 9 || (kind(v[0]) != kindReady && kind(v[0]) != kindDeferred) {
		return 0, 0, "", false
	}
	return kind(v[0]), int64(binary.BigEndian.Uint64(v[1:9])), string(v[9:]), true
}

func sizeValue(size int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(size)) }

func parseSizeValue(v []byte) int64 {
	if len(v) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}
