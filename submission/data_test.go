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
		name    string
		in      string
		maxLine int // 0: no limit
		want    error
	}{
		{name: "empty", in: ""},
		{name: "CRLF lines", in: "a\r\nb\r\n\r\nc\r\n"},
		{name: "no final line end", in: "a\r\nb"},
		{name: "bare LF", in: "a\nb\r\n", want: errBareLineEnding},
		{name: "leading LF", in: "\n", want: errBareLineEnding},
		{name: "smuggling", in: "a\r\n\n.\r\nMAIL FROM:<x@y.example>\r\n", want: errBareLineEnding},
		{name: "LF dot CRLF", in: "hello\n.\r\n", want: errBareLineEnding},
		{name: "bare CR", in: "a\rb\r\n", want: errBareLineEnding},
		{name: "CR at end", in: "a\r\nb\r", want: errBareLineEnding},
		{name: "CR CR LF", in: "a\r\r\n", want: errBareLineEnding},
		{name: "LF CR", in: "a\n\r", want: errBareLineEnding},
		{name: "lines at the limit", in: "abc\r\nde\r\nfgh", maxLine: 5},
		{name: "line over the limit", in: "abc\r\nabcd\r\n", maxLine: 5, want: errLineTooLong},
		{name: "last line over the limit", in: "abc\r\nabcdef", maxLine: 5, want: errLineTooLong},
	}
	readers := map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"half":     iotest.HalfReader,
		"data+EOF": iotest.DataErrReader,
	}
	for _, tt := range tests {
		for rname, wrap := range readers {
			got, err := io.ReadAll(newCRLFReader(wrap(bytes.NewReader([]byte(tt.in))), tt.maxLine))
			switch {
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Errorf("%s/%s: err %v, want %v", tt.name, rname, err, tt.want)
			case tt.want == nil && err != nil:
				t.Errorf("%s/%s: err %v", tt.name, rname, err)
			case tt.want == nil && string(got) != tt.in:
				t.Errorf("%s/%s: read %q, want %q", tt.name, rname, got, tt.in)
			}
		}
	}
}

func TestCRLFReader_PassesErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	_, err := io.ReadAll(newCRLFReader(io.MultiReader(bytes.NewReader([]byte("ok\r\n")), iotest.ErrReader(boom)), 0))
	if !errors.Is(err, boom) {
		t.Errorf("err %v, want the reader's own error", err)
	}
	r := newCRLFReader(bytes.NewReader([]byte("\nmore")), 0)
	if _, err := r.Read(make([]byte, 10)); !errors.Is(err, errBareLineEnding) {
		t.Fatalf("first read: %v", err)
	}
	if n, err := r.Read(make([]byte, 10)); n != 0 || !errors.Is(err, errBareLineEnding) {
		t.Errorf("read after the error: %d, %v", n, err)
	}
}
