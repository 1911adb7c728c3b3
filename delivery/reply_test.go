package delivery

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/textproto"
	"strings"
	"testing"
	"testing/iotest"
)

// reply builds an n-line reply of code with lines of size octets each,
// CRLF included.
func reply(code string, lines, size int) string {
	var b strings.Builder
	for i := range lines {
		sep := "-"
		if i == lines-1 {
			sep = " "
		}
		b.WriteString(code + sep + strings.Repeat("z", size-6) + "\r\n")
	}
	return b.String()
}

func TestReplyLimiter_Limits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		tooLong bool
	}{
		{"a line of 2,000 octets", reply("250", 1, 2000), false},
		{"a line of 2,001 octets", reply("250", 1, 2001), true},
		{"100 lines", reply("250", 100, 100), false},
		{"101 lines", reply("250", 101, 100), true},
		{"64 KiB in 40 lines", reply("250", 40, 64<<10/40), false},
		{"over 64 KiB in 40 lines", reply("250", 40, 1700), true},
		{"the limits are per reply", reply("250", 99, 600) + reply("251", 99, 600) + reply("252", 99, 600), false},
		{"a giant line with no end", "220 " + strings.Repeat("x", 100000), true},
		{"bare LF line ends", strings.Repeat("250-abc\n", 99) + "250 ok\n", false},
		{"bare LF, too many lines", strings.Repeat("250-abc\n", 100) + "250 ok\n", true},
	}
	for _, tt := range tests {
		lim := &replyLimiter{r: iotest.HalfReader(strings.NewReader(tt.in))}
		got, err := io.ReadAll(lim)
		if tt.tooLong != errors.Is(err, errReplyTooLong) {
			t.Errorf("%s: read %d octets, err %v; want reply too long: %v", tt.name, len(got), err, tt.tooLong)
		}
		if !tt.tooLong && string(got) != tt.in {
			t.Errorf("%s: got %d of %d octets", tt.name, len(got), len(tt.in))
		}
	}
}

// A line cut short by a read error never reaches textproto as a line:
// the error does.
func TestReplyLimiter_HoldsPartialLines(t *testing.T) {
	t.Parallel()
	boom := errors.New("i/o timeout")
	r := io.MultiReader(strings.NewReader("250-first\r\n250 sec"), iotest.ErrReader(boom))
	tp := textproto.NewReader(bufio.NewReader(&replyLimiter{r: r}))
	if _, _, err := tp.ReadResponse(250); !errors.Is(err, boom) {
		t.Errorf("ReadResponse = %v, want the read error", err)
	}
}

func TestClip(t *testing.T) {
	t.Parallel()
	if s := strings.Repeat("a", maxResponse); clip(s) != s {
		t.Error("clip changed a response of exactly maxResponse bytes")
	}
	long := strings.Repeat("é", maxResponse) // 2 bytes each
	got := clip(long)
	if len(got) > maxResponse || !strings.HasSuffix(got, cutMark) || !strings.HasPrefix(long, strings.TrimSuffix(got, cutMark)) {
		t.Errorf("clip = %d bytes %q...", len(got), got[:20])
	}
	if !utf8Valid(got) {
		t.Error("clip cut inside a UTF-8 sequence")
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

// FuzzReplyReader checks the limiter against a line-by-line model of the
// limits: it fails exactly when the input breaks a limit, hands out only
// whole lines, in order, at most one per read, and never reads on after a
// broken limit.
func FuzzReplyReader(f *testing.F) {
	f.Add([]byte("220 mx.example ESMTP\r\n250-mx.example\r\n250-PIPELINING\r\n250 STARTTLS\r\n"), uint8(7))
	f.Add([]byte(reply("250", 1, 2001)), uint8(0))
	f.Add([]byte(reply("450", 101, 20)), uint8(3))
	f.Add([]byte(reply("250", 40, 1700)), uint8(200))
	f.Add([]byte("220 \x00\xff\xfe garbage\n\n\n-\r\n550"), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		src := &countingReader{r: bytes.NewReader(data), chunk: int(chunk)%64 + 1}
		lim := &replyLimiter{r: src}
		var got []byte
		var err error
		buf := make([]byte, int(chunk)%97+1)
		for err == nil {
			var n int
			n, err = lim.Read(buf)
			if end := bytes.IndexByte(buf[:n], '\n'); end >= 0 && end != n-1 {
				t.Fatalf("one read handed out %q, past the end of a line", buf[:n])
			}
			got = append(got, buf[:n]...)
		}
		wantErr, okLen := modelLimits(data)
		if wantErr != errors.Is(err, errReplyTooLong) {
			t.Fatalf("reply too long = %v (err %v), want %v", !wantErr, err, wantErr)
		}
		if !bytes.HasPrefix(data, got) || len(got) > okLen || (len(got) > 0 && got[len(got)-1] != '\n') {
			t.Fatalf("handed out %q, not whole lines of the input's first %d octets", got, okLen)
		}
		if !wantErr && len(got) != okLen {
			t.Fatalf("handed out %d octets, want all %d of the complete lines", len(got), okLen)
		}
		if wantErr {
			reads := src.reads
			if _, again := lim.Read(buf); !errors.Is(again, errReplyTooLong) || src.reads != reads {
				t.Fatalf("after a broken limit: %v, %d more reads", again, src.reads-reads)
			}
		}
	})
}

// modelLimits says whether data breaks a reply limit and how many octets
// of whole lines come before the line that breaks it (or, if none does,
// before the trailing partial line).
func modelLimits(data []byte) (tooLong bool, okLen int) {
	replyLen, lines := 0, 0
	for off := 0; off < len(data); {
		end := bytes.IndexByte(data[off:], '\n')
		line := data[off:]
		if end >= 0 {
			line = data[off : off+end+1]
		}
		if len(line) > maxReplyLine || replyLen+len(line) > maxReplyBytes {
			return true, off
		}
		if end < 0 {
			return false, off // a partial last line is held back
		}
		lines++
		replyLen += len(line)
		if len(line) >= 4 && line[3] == '-' {
			if lines >= maxReplyLines {
				return true, off
			}
		} else {
			replyLen, lines = 0, 0
		}
		off += len(line)
	}
	return false, len(data)
}

// countingReader hands out at most chunk octets per read and counts reads.
type countingReader struct {
	r     io.Reader
	chunk int
	reads int
}

func (c *countingReader) Read(p []byte) (int, error) {
	c.reads++
	return c.r.Read(p[:min(len(p), c.chunk)])
}
