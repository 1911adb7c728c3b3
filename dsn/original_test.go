package dsn

import "testing"

func TestOriginalMessageID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, msg, want string
	}{
		{"one line", "Subject: x\r\nMessage-ID: <a@b.example>\r\n\r\nbody", "<a@b.example>"},
		{"any case", "message-id: <a@b.example>\r\n\r\n", "<a@b.example>"},
		// Issue 20: the next two were read wrong ("" and "<evil@x.example>").
		{"folded", "Message-ID:\r\n <a@b.example>\r\nSubject: x\r\n\r\n", "<a@b.example>"},
		{"a continuation line is not a field", "Subject: hello\r\n Message-ID: <evil@x.example>\r\n\r\n", ""},
		{"only the header counts", "Subject: x\r\n\r\nMessage-ID: <body@x.example>\r\n", ""},
		{"not <...>", "Message-ID: a@b.example\r\n\r\n", ""},
		{"the first one decides", "Message-ID: broken\r\nMessage-ID: <a@b.example>\r\n\r\n", ""},
		{"none", "Subject: x\r\n\r\n", ""},
	}
	for _, tt := range tests {
		if got := originalMessageID([]byte(tt.msg)); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}
