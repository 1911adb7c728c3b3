package queue

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"time"
)

// ID identifies a queued message. It is 20 characters of lowercase base32hex
// (URL-safe), and IDs sort by the time they were made.
type ID string

// idEncoding keeps byte order under encoding, so IDs sort by time.
var idEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

const (
	idBytes = 12 // 8 bytes of Unix nanoseconds + 4 random bytes
	idLen   = 20 // base32 of 12 bytes
)

// NewID makes an ID for a message that arrived at t.
func NewID(t time.Time) ID {
	var b [idBytes]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixNano()))
	if _, err := rand.Read(b[8:]); err != nil {
		// crypto/rand never fails on Linux; keep the ID unique-ish anyway.
		binary.BigEndian.PutUint32(b[8:], uint32(time.Now().UnixNano()))
	}
	return ID(idEncoding.EncodeToString(b[:]))
}

// ParseID checks that s is a well-formed ID.
func ParseID(s string) (ID, error) {
	if len(s) != idLen {
		return "", fmt.Errorf("queue id %q: want %d characters", s, idLen)
	}
	if _, err := idEncoding.DecodeString(s); err != nil {
		return "", fmt.Errorf("queue id %q: not base32hex", s)
	}
	return ID(s), nil
}

// Time is when the message with this ID arrived; zero for a malformed ID.
func (id ID) Time() time.Time {
	b, err := idEncoding.DecodeString(string(id))
	if err != nil || len(b) != idBytes {
		return time.Time{}
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(b[:8])))
}
