package submission

import (
	"errors"
	"io"
	"sync"
)

// Room kept in front of a message as it is read, for the header fields the
// relay puts there: the Received field (with Message-ID and Date when the
// message lacks them) and, when signing, the DKIM-Signature fields. Fields
// that do not fit cost one copy of the message, nothing else.
const (
	stampRoom = 2 << 10
	signRoom  = 4 << 10
)

// room is what to keep free in front of a message: the relay's own
// fields, and its DKIM signatures when it signs.
func (s *Server) room() int {
	if s.cfg.Signer != nil {
		return stampRoom + signRoom
	}
	return stampRoom
}

// blockSize is the unit in which a message of unknown size is read.
const blockSize = 64 << 10

// msgBuf is a message being accepted: buf[start:], with room in front of
// start for the fields the relay adds, so that adding them does not copy
// the message.
type msgBuf struct {
	buf   []byte
	start int
}

// bytes returns the message, with every field added so far.
func (m *msgBuf) bytes() []byte { return m.buf[m.start:] }

// prepend puts fields in front of the message: into the room kept for
// them, or, when they do not fit, into a new buffer.
func (m *msgBuf) prepend(fields []byte) {
	if len(fields) <= m.start {
		m.start -= len(fields)
		copy(m.buf[m.start:], fields)
		return
	}
	buf := make([]byte, 0, len(fields)+len(m.buf)-m.start)
	buf = append(append(buf, fields...), m.bytes()...)
	m.buf, m.start = buf, 0
}

// appendBytes adds b at the end of the message.
func (m *msgBuf) appendBytes(b []byte) { m.buf = append(m.buf, b...) }

// blockPool lends the blocks a message of unknown size is read into. They
// go back as soon as the message has its own buffer, so a busy relay
// reuses a few blocks instead of allocating (and zeroing) new ones for
// every message.
type blockPool struct{ p sync.Pool }

func (b *blockPool) get() *[blockSize]byte {
	if blk, ok := b.p.Get().(*[blockSize]byte); ok {
		return blk
	}
	return new([blockSize]byte)
}

func (b *blockPool) put(blk *[blockSize]byte) { b.p.Put(blk) }

// readMessage reads r to its end into a message that keeps room bytes
// free in front. The message's buffer has exactly its size (plus room),
// and is the only copy of the data readMessage makes, apart from its
// blocks: io.ReadAll would grow its buffer by doubling, copying a large
// message about twice over and leaving up to twice its size allocated.
//
// sizeHint is the size the client declared with MAIL FROM's SIZE (RFC
// 1870), 0 when it declared none, at most the message size limit (go-smtp
// refuses larger). It is only a hint: a message of about that size goes
// straight into one buffer of that size; without it, or past it, the data
// goes into blocks of 64 KiB (at most as many as arrive), copied into the
// message's buffer at the end. A client that declares a large size and
// sends less holds the memory it declared, as it could by sending it, for
// as long as submission.data_timeout allows.
func (b *blockPool) readMessage(r io.Reader, room int, sizeHint int64) (*msgBuf, error) {
	var head []byte
	if sizeHint > 0 {
		head = make([]byte, room, room+hinted(sizeHint))
		done, err := fill(r, &head)
		if err != nil {
			return nil, err
		}
		if done {
			return &msgBuf{buf: head, start: room}, nil
		}
	}
	var blocks []*[blockSize]byte
	defer func() {
		for _, blk := range blocks {
			b.put(blk)
		}
	}()
	last := blockSize // bytes used in the last block
	for {
		if last == blockSize {
			blocks, last = append(blocks, b.get()), 0
		}
		n, err := r.Read(blocks[len(blocks)-1][last:])
		last += n
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if head == nil {
		head = make([]byte, room)
	}
	buf := make([]byte, len(head)+(len(blocks)-1)*blockSize+last)
	at := copy(buf, head)
	for i, blk := range blocks {
		if i == len(blocks)-1 {
			copy(buf[at:], blk[:last])
			break
		}
		at += copy(buf[at:], blk[:])
	}
	return &msgBuf{buf: buf, start: room}, nil
}

// hinted is how much to read into one buffer when the client declared
// SIZE: a little over it, since a client's count may miss a few bytes (a
// final line end, its own stamp).
func hinted(sizeHint int64) int { return int(sizeHint + sizeHint/64 + 1024) }

// fill reads r into the free capacity of *buf; done reports that r ended
// before the buffer was full.
func fill(r io.Reader, buf *[]byte) (done bool, err error) {
	b := *buf
	defer func() { *buf = b }()
	for len(b) < cap(b) {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if errors.Is(err, io.EOF) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
	}
	return false, nil
}
