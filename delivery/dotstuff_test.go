package delivery

import (
	"bufio"
	"bytes"
	"net/textproto"
	"testing"
)

// textprotoDot is what go-smtp's client would send for b: DotWriter's
// output, terminator included.
func textprotoDot(chunks ...[]byte) []byte {
	var buf bytes.Buffer
	w := textproto.NewWriter(bufio.NewWriter(&buf))
	dw := w.DotWriter()
	for _, c := range chunks {
		dw.Write(c)
	}
	dw.Close()
	return buf.Bytes()
}

func stuffed(chunks ...[]byte) []byte {
	var d dotStuffer
	var out []byte
	for _, c := range chunks {
		out = d.appendStuffed(out, c)
	}
	return append(out, d.terminator()...)
}

func TestDotStuffer_AsTextproto(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"", ".", "..", "\r\n", ".\r\n", "a\r\n.b\r\n..c\r\n", "a\nb\n.c\n", "a\r\r\n.b", "a\r.b\r\n", "\r", "\n", "\r\r", "x\r\n.",
		"Subject: x\r\n\r\n.leading dot survives\r\n", "no final newline",
	} {
		want := textprotoDot([]byte(in))
		if got := stuffed([]byte(in)); !bytes.Equal(got, want) {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}

// FuzzDotStuffer checks the stuffer against textproto's DotWriter for any
// data cut into any two writes.
func FuzzDotStuffer(f *testing.F) {
	for _, s := range []string{"a\r\n.b\r\n", ".\n.\r.\r\n", "\r\r\n\n.", ""} {
		f.Add([]byte(s), uint16(1))
	}
	f.Fuzz(func(t *testing.T, b []byte, cut uint16) {
		k := int(cut) % (len(b) + 1)
		want := textprotoDot(b[:k], b[k:])
		if got := stuffed(b[:k], b[k:]); !bytes.Equal(got, want) {
			t.Fatalf("%q cut at %d: got %q, want %q", b, k, got, want)
		}
		if !bytes.HasSuffix(want, []byte(dataEnd)) {
			t.Fatalf("%q: DotWriter's output %q does not end in CRLF.CRLF", b, want)
		}
		var sent bytes.Buffer
		if err := writeStuffed(&sent, b, func() {}); err != nil {
			t.Fatal(err)
		}
		if got := append(sent.Bytes(), dataEnd...); !bytes.Equal(got, textprotoDot(b)) {
			t.Fatalf("%q: writeStuffed + CRLF.CRLF = %q, want %q", b, got, textprotoDot(b))
		}
	})
}

// writeStuffed across block boundaries: a line end or a leading dot split
// between two blocks comes out as DotWriter sends it.
func TestWriteStuffed_Blocks(t *testing.T) {
	t.Parallel()
	for _, tail := range []string{"\r\n", ".x\r\n", "\n.", "\r", "x", ""} {
		body := append(bytes.Repeat([]byte("y"), bodyBlock-1), "\r\n.z\r\n"...)
		body = append(body, bytes.Repeat([]byte(".a\r\n"), bodyBlock/4)...)
		body = append(body, tail...)
		var sent bytes.Buffer
		if err := writeStuffed(&sent, body, func() {}); err != nil {
			t.Fatal(err)
		}
		if got, want := append(sent.Bytes(), dataEnd...), textprotoDot(body); !bytes.Equal(got, want) {
			t.Errorf("tail %q: %d bytes sent differ from DotWriter's %d", tail, len(got), len(want))
		}
	}
}

// BenchmarkDotStuff1MiB compares the stuffer with textproto's DotWriter
// on a 1 MiB message of 76-character lines, some starting with a dot.
func BenchmarkDotStuff1MiB(b *testing.B) {
	line := []byte("abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwx\r\n")
	var body []byte
	for i := 0; len(body) < 1<<20; i++ {
		if i%50 == 0 {
			body = append(body, '.')
		}
		body = append(body, line...)
	}
	b.Run("textproto", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		w := bufio.NewWriterSize(discard{}, 4096)
		for range b.N {
			dw := textproto.NewWriter(w).DotWriter()
			dw.Write(body)
			dw.Close()
		}
	})
	b.Run("dotStuffer", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		buf := make([]byte, 0, 70<<10)
		for range b.N {
			var d dotStuffer
			for rest := body; len(rest) > 0; {
				n := min(len(rest), bodyBlock)
				buf = d.appendStuffed(buf[:0], rest[:n])
				rest = rest[n:]
			}
		}
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
