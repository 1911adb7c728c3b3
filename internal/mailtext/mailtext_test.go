package mailtext

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestIsASCII(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{"": true, "a@b.example": true, "\x7f": true, "jürgen@b.example": false, "\x80": false} {
		if got := IsASCII(s); got != want {
			t.Errorf("IsASCII(%q) = %v", s, got)
		}
	}
}

func TestOneLine(t *testing.T) {
	t.Parallel()
	if got := OneLine("  550 5.1.1\r\n no such\tuser  "); got != "550 5.1.1 no such user" {
		t.Errorf("OneLine = %q", got)
	}
}

func TestClip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s, mark string
		n       int
		want    string
	}{
		{"short", " [cut]", 10, "short"},
		{"exactly10!", " [cut]", 10, "exactly10!"},
		{"0123456789abcdef", " [cut]", 10, "0123 [cut]"},
		{"0123456789abcdef", "", 10, "0123456789"},
		{"ab€€€", "", 6, "ab€"}, // never half a rune
		{"abcdef", "...", 2, "..."},
	}
	for _, tt := range tests {
		got := Clip(tt.s, tt.n, tt.mark)
		if got != tt.want {
			t.Errorf("Clip(%q, %d, %q) = %q, want %q", tt.s, tt.n, tt.mark, got, tt.want)
		}
		if len(got) > max(tt.n, len(tt.mark)) || !utf8.ValidString(got) || !strings.HasPrefix(tt.s, strings.TrimSuffix(got, tt.mark)) {
			t.Errorf("Clip(%q, %d, %q) = %q: too long, invalid or not a prefix", tt.s, tt.n, tt.mark, got)
		}
	}
}
