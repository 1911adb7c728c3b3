package submission

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/mxout/mxout/configs"
)

// readMessage keeps every byte, in a buffer of exactly the message's size
// plus the room asked for, whatever the SIZE hint says and however the
// reads split the data.
func TestReadMessage(t *testing.T) {
	t.Parallel()
	readers := map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"half":     iotest.HalfReader,
		"data+EOF": iotest.DataErrReader,
	}
	var pool blockPool
	for _, size := range []int{0, 1, 2048, blockSize - 1, blockSize, blockSize + 1, 3*blockSize + 17} {
		data := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
		for _, hint := range []int64{0, int64(size), int64(size / 2), int64(size) + 5000, 1} {
			for rname, wrap := range readers {
				if rname == "one byte" && size > blockSize+1 {
					continue // slow, and nothing the other sizes do not show
				}
				name := fmt.Sprintf("size %d, hint %d, %s", size, hint, rname)
				m, err := pool.readMessage(wrap(bytes.NewReader(data)), stampRoom, hint)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if !bytes.Equal(m.bytes(), data) {
					t.Fatalf("%s: read %d bytes that differ from the %d sent", name, len(m.bytes()), size)
				}
				if m.start != stampRoom {
					t.Errorf("%s: room %d, want %d", name, m.start, stampRoom)
				}
				// Without a hint, or past it, the buffer has the message's
				// size; with a hint that holds it, the hint's.
				want := stampRoom + size
				if hint > 0 && hinted(hint) > size {
					want = stampRoom + hinted(hint)
				}
				if cap(m.buf) != want {
					t.Errorf("%s: buffer of %d bytes for %d: want %d", name, cap(m.buf), size, want)
				}
			}
		}
	}
}

func TestReadMessage_PassesErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	var pool blockPool
	for _, hint := range []int64{0, 10, 1 << 20} {
		r := io.MultiReader(bytes.NewReader(bytes.Repeat([]byte("x"), blockSize+10)), iotest.ErrReader(boom))
		if m, err := pool.readMessage(r, stampRoom, hint); !errors.Is(err, boom) || m != nil {
			t.Errorf("hint %d: %v, %v; want the reader's own error and no message", hint, m, err)
		}
	}
}

// Fields go into the room in front of the message without moving it;
// fields larger than the room cost one copy, and nothing is lost.
func TestMsgBuf_Prepend(t *testing.T) {
	t.Parallel()
	var pool blockPool
	m, err := pool.readMessage(bytes.NewReader([]byte("Subject: x\r\n\r\nbody\r\n")), 32, 0)
	if err != nil {
		t.Fatal(err)
	}
	first := &m.buf[0]
	m.prepend([]byte("Received: by relay\r\n"))
	m.prepend([]byte("A: b\r\n"))
	if &m.buf[0] != first {
		t.Error("fields that fit the room moved the message")
	}
	m.prepend(bytes.Repeat([]byte("X"), 40))
	m.appendBytes([]byte("\r\n"))
	want := string(bytes.Repeat([]byte("X"), 40)) + "A: b\r\nReceived: by relay\r\nSubject: x\r\n\r\nbody\r\n\r\n"
	if got := string(m.bytes()); got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

// Whatever SIZE the client declares (none, too small, exact, too large),
// the queue gets the message as sent, with the relay's fields in front;
// a message of several read blocks included.
func TestData_SizeHintIsOnlyAHint(t *testing.T) {
	t.Parallel()
	q := &fakeQueue{}
	cfg := testConfig()
	cfg.MaxMessageBytes = 1 << 20
	h := start(t, cfg, q, configs.TLSNone)
	c := dialRaw(t, h.addr)
	c.must("EHLO client.example", "250")
	line := strings.Repeat("x", 70) + "\r\n"
	content := message("Subject: size", "", strings.Repeat(line, 3*blockSize/len(line)))
	for _, size := range []string{"", " SIZE=10", fmt.Sprintf(" SIZE=%d", len(content)), " SIZE=1000000"} {
		c.must("MAIL FROM:<a@example.org>"+size, "250")
		c.must("RCPT TO:<b@example.com>", "250")
		c.must("DATA", "354")
		c.write(dotEnd(content))
		c.expect("250 2.0.0 Ok: queued as ")
	}
	msgs := q.messages()
	if len(msgs) != 4 {
		t.Fatalf("%d messages queued, want 4", len(msgs))
	}
	for i, m := range msgs {
		if !bytes.HasPrefix(m.body, []byte("Received: ")) || !bytes.HasSuffix(m.body, []byte(content)) {
			t.Errorf("message %d: %d bytes, not the %d sent behind a Received field", i, len(m.body), len(content))
		}
	}
}
