package header

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// fields lists msg's fields as "Name=value" with the value unfolded.
func fields(msg string) []string {
	var out []string
	for f := range Fields([]byte(msg)) {
		out = append(out, f.Name+"="+Unfold(f.Value))
	}
	return out
}

func TestFields(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, msg string
		want      []string
	}{
		{"empty", "", nil},
		{"fields and body", "Subject: x\r\nDate: now\r\n\r\nX-In-Body: no\r\n", []string{"Subject=x", "Date=now"}},
		{"folded", "Subject: a\r\n b\r\n\tc\r\nDate: now\r\n\r\n", []string{"Subject=a b\tc", "Date=now"}},
		{"folded on the first line", "Message-ID:\r\n <a@b>\r\n\r\n", []string{"Message-ID=<a@b>"}},
		{"space before the colon", "Message-ID : <a@b>\r\n\r\n", []string{"Message-ID=<a@b>"}},
		{"no separator", "Subject: x\r\nDate: now", []string{"Subject=x", "Date=now"}},
		{"empty header section", "\r\nSubject: in the body\r\n", nil},
		{"all body", "Hello\r\nSubject: x\r\n", nil},
		{"starts with a continuation", " Subject: x\r\n\r\n", nil},
		{"empty name", ": x\r\n\r\n", nil},
		{"name with a space", "Not A Field: x\r\n\r\n", nil},
		{"a malformed line ends the fields", "Subject: x\r\nnot a field\r\nDate: now\r\n\r\n", []string{"Subject=x"}},
		{"a continuation that reads like a field", "Subject: x\r\n Message-ID: <evil@x>\r\n\r\n", []string{"Subject=x Message-ID: <evil@x>"}},
		{"LF only", "Date: now\nSubject: a\n b\n\nbody", []string{"Date=now", "Subject=a b"}},
		{"empty value", "X-Empty:\r\n\r\n", []string{"X-Empty="}},
		{"a CR without LF at the end is data", "Subject: x\r", []string{"Subject=x"}},
	}
	for _, tt := range tests {
		if got := fields(tt.msg); !slices.Equal(got, tt.want) {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestFields_ValueIsRaw(t *testing.T) {
	t.Parallel()
	msg := []byte("Subject: a\r\n b\r\nDate: now\r\n\r\nbody")
	var got []string
	for f := range Fields(msg) {
		got = append(got, string(f.Value))
	}
	if want := []string{" a\r\n b\r\n", " now\r\n"}; !slices.Equal(got, want) {
		t.Errorf("raw values %q, want %q", got, want)
	}
}

func TestFields_StopsWhenAsked(t *testing.T) {
	t.Parallel()
	n := 0
	for f := range Fields([]byte("A: 1\r\nB: 2\r\nC: 3\r\n")) {
		n++
		if f.Is("b") {
			break
		}
	}
	if n != 2 {
		t.Errorf("%d fields read, want 2", n)
	}
}

func TestSplit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, msg    string
		header, body string
		separated    bool
	}{
		{"empty", "", "", "", false},
		{"header and body", "A: 1\r\nB: 2\r\n\r\nbody\r\n\r\nmore", "A: 1\r\nB: 2\r\n", "body\r\n\r\nmore", true},
		{"starts with the empty line", "\r\nbody\r\n\r\nX: 1\r\n", "", "body\r\n\r\nX: 1\r\n", true},
		{"no empty line", "A: 1\r\nB: 2", "A: 1\r\nB: 2", "", false},
		{"LF only", "A: 1\n\nbody", "A: 1\n", "body", true},
		{"a malformed line is still header", "A: 1\r\noops\r\n\r\nbody", "A: 1\r\noops\r\n", "body", true},
		{"a last CR is not a line end", "A: 1\r\n\r", "A: 1\r\n\r", "", false},
	}
	for _, tt := range tests {
		h, b, sep := Split([]byte(tt.msg))
		if string(h) != tt.header || string(b) != tt.body || sep != tt.separated {
			t.Errorf("%s: %q, %q, %v; want %q, %q, %v", tt.name, h, b, sep, tt.header, tt.body, tt.separated)
		}
	}
}

func TestHasSection(t *testing.T) {
	t.Parallel()
	for msg, want := range map[string]bool{
		"":                    false,
		"Subject: x\r\n\r\n":  true,
		"Subject: x":          true,
		"\r\nbody":            true,
		"\nbody":              true,
		"body\r\nSubject: x":  false,
		" folded: x\r\n\r\n":  false,
		"\r":                  false,
		"Bad Name: x\r\n\r\n": false,
	} {
		if got := HasSection([]byte(msg)); got != want {
			t.Errorf("HasSection(%q) = %v, want %v", msg, got, want)
		}
	}
}

// model reads msg's fields the slow way, line by line over strings, for
// FuzzFields to compare with.
func model(msg string) []string {
	var out []string
	var cur []string // name, then the raw lines of the value
	for _, line := range strings.SplitAfter(msg, "\n") {
		if line == "" {
			break
		}
		content := line
		if strings.HasSuffix(line, "\n") {
			content = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		}
		if content != "" && (content[0] == ' ' || content[0] == '\t') {
			if cur == nil {
				return out
			}
			cur = append(cur, line)
			continue
		}
		if cur != nil {
			out = append(out, cur[0]+"="+strings.Join(cur[1:], ""))
			cur = nil
		}
		name, _, ok := strings.Cut(content, ":")
		name = strings.TrimRight(name, " \t")
		if !ok || !IsFieldName(name) {
			return out
		}
		_, rawValue, _ := strings.Cut(line, ":")
		cur = []string{name, rawValue}
	}
	if cur != nil {
		out = append(out, cur[0]+"="+strings.Join(cur[1:], ""))
	}
	return out
}

func FuzzFields(f *testing.F) {
	for _, s := range []string{
		"", "Subject: x\r\n\r\nbody", "A: 1\r\n b\r\n\tc\r\nB : 2\n\nX: 3", "\r\nA: 1", " A: 1\r\n",
		"A: 1\r\nbad\r\nB: 2\r\n", "A: 1\r", "A:\r\n\r\n\r\n", "\n\n", ": x\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		var got []string
		var last int
		for fl := range Fields([]byte(msg)) {
			got = append(got, fl.Name+"="+string(fl.Value))
			if !IsFieldName(fl.Name) {
				t.Errorf("field name %q", fl.Name)
			}
			if u := Unfold(fl.Value); strings.ContainsAny(u, "\r\n") {
				t.Errorf("Unfold(%q) = %q", fl.Value, u)
			}
			i := strings.Index(msg[last:], string(fl.Value))
			if i < 0 {
				t.Fatalf("value %q not in the message after offset %d", fl.Value, last)
			}
			last += i + len(fl.Value)
		}
		if want := model(msg); !slices.Equal(got, want) {
			t.Errorf("Fields(%q) = %q, model %q", msg, got, want)
		}
		h, b, sep := Split([]byte(msg))
		rebuilt := string(h) + string(b)
		if sep {
			rebuilt = string(h) + msg[len(h):len(msg)-len(b)] + string(b)
			if sepLine := msg[len(h) : len(msg)-len(b)]; sepLine != "\n" && sepLine != "\r\n" {
				t.Errorf("Split(%q): separator %q", msg, sepLine)
			}
		}
		if rebuilt != msg {
			t.Errorf("Split(%q) = %q, %q: not the message", msg, h, b)
		}
		if bytes.Contains(append([]byte("\n"), h...), []byte("\n\n")) || bytes.Contains(append([]byte("\n"), h...), []byte("\n\r\n")) {
			t.Errorf("Split(%q): header %q holds an empty line", msg, h)
		}
		if sep != (strings.HasPrefix(msg, "\n") || strings.HasPrefix(msg, "\r\n") || strings.Contains(msg, "\n\n") || strings.Contains(msg, "\n\r\n")) {
			t.Errorf("Split(%q): separated = %v", msg, sep)
		}
	})
}
