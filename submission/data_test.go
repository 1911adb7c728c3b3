package submission

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

func TestCRLFReader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		bad  bool
	}{
		{name: "empty", in: ""},
		{name: "CRLF lines", in: "a\r\nb\r\n\r\nc\r\n"},
		{name: "no final line end", in: "a\r\nb"},
		{name: "bare LF", in: "a\nb\r\n", bad: true},
		{name: "leading LF", in: "\n", bad: true},
		{name: "smuggling", in: "a\r\n\n.\r\nMAIL FROM:<x@y.example>\r\n", bad: true},
		{name: "LF dot CRLF", in: "hello\n.\r\n", bad: true},
		{name: "bare CR", in: "a\rb\r\n", bad: true},
		{name: "CR at end", in: "a\r\nb\r", bad: true},
		{name: "CR CR LF", in: "a\r\r\n", bad: true},
		{name: "LF CR", in: "a\n\r", bad: true},
	}
	readers := map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"half":     iotest.HalfReader,
		"data+EOF": iotest.DataErrReader,
	}
	for _, tt := range tests {
		for rname, wrap := range readers {
			got, err := io.ReadAll(newCRLFReader(wrap(bytes.NewReader([]byte(tt.in)))))
			switch {
			case tt.bad && !errors.Is(err, errBareLineEnding):
				t.Errorf("%s/%s: err %v, want errBareLineEnding", tt.name, rname, err)
			case !tt.bad && err != nil:
				t.Errorf("%s/%s: err %v", tt.name, rname, err)
			case !tt.bad && string(got) != tt.in:
				t.Errorf("%s/%s: read %q, want %q", tt.name, rname, got, tt.in)
			}
		}
	}
}

func TestCRLFReader_PassesErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	_, err := io.ReadAll(newCRLFReader(io.MultiReader(bytes.NewReader([]byte("ok\r\n")), iotest.ErrReader(boom))))
	if !errors.Is(err, boom) {
		t.Errorf("err %v, want the reader's own error", err)
	}
	r := newCRLFReader(bytes.NewReader([]byte("\nmore")))
	if _, err := r.Read(make([]byte, 10)); !errors.Is(err, errBareLineEnding) {
		t.Fatalf("first read: %v", err)
	}
	if n, err := r.Read(make([]byte, 10)); n != 0 || !errors.Is(err, errBareLineEnding) {
		t.Errorf("read after the error: %d, %v", n, err)
	}
}
