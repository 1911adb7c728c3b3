package delivery

import (
	"testing"
	"time"

	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/queue"
)

// TestDeliver_SMTPUTF8OnlyWhenNeeded: a message submitted with SMTPUTF8
// (Go's net/smtp always asks when offered) goes to a server without
// SMTPUTF8 as plain mail when its envelope and header are ASCII, and fails
// with 5.6.7 only when they really hold UTF-8.
func TestDeliver_SMTPUTF8OnlyWhenNeeded(t *testing.T) {
	t.Parallel()
	eachWire(t, func(t *testing.T, w *world) {
		plain := w.mx("plain.example", 10, smtptest.Options{})
		utf8 := w.mx("utf8.example", 10, smtptest.Options{SMTPUTF8: true})
		w.start()
		send := func(to, body string) queue.ID {
			return w.enqueueEnv(queue.Envelope{From: "app@sender.example", UTF8: true, To: []queue.RecipientParams{{Addr: to}}}, body)
		}
		tests := []struct {
			name, to, body string
			want           queue.State
			wantStatus     string
		}{
			{"ascii to a server without SMTPUTF8", "a@plain.example", "Subject: hi\r\n\r\nbody ü 8-bit is fine\r\n", queue.Delivered, ""},
			{"utf-8 header to a server without SMTPUTF8", "b@plain.example", "Subject: grüße\r\n\r\nbody\r\n", queue.Failed, "5.6.7"},
			{"utf-8 address to a server without SMTPUTF8", "jürgen@plain.example", "Subject: hi\r\n\r\nbody\r\n", queue.Failed, "5.6.7"},
			{"utf-8 header to a server with SMTPUTF8", "c@utf8.example", "Subject: grüße\r\n\r\nbody\r\n", queue.Delivered, ""},
		}
		for _, tt := range tests {
			id := send(tt.to, tt.body)
			r := w.waitFinal(id, 1, 10*time.Second)[tt.to]
			if r.State != tt.want || (tt.wantStatus != "" && r.Status != tt.wantStatus) {
				t.Errorf("%s: %v %s %q", tt.name, r.State, r.Status, r.Response)
			}
		}
		for _, m := range append(plain.Messages(), utf8.Messages()...) {
			wantOpt := m.To[0] == "c@utf8.example"
			if m.MailOpts == nil || m.MailOpts.UTF8 != wantOpt {
				t.Errorf("message to %v: MAIL SMTPUTF8 = %+v, want %v", m.To, m.MailOpts, wantOpt)
			}
		}
		if n := len(plain.Messages()); n != 1 {
			t.Errorf("the server without SMTPUTF8 got %d messages, want only the ASCII one", n)
		}
	})
}

func TestNeedsSMTPUTF8(t *testing.T) {
	t.Parallel()
	m := &queue.Message{Envelope: queue.Envelope{From: "app@sender.example"},
		Recipients: []queue.Recipient{{RecipientParams: queue.RecipientParams{Addr: "a@dest.example"}}, {RecipientParams: queue.RecipientParams{Addr: "jürgen@dest.example"}}}}
	tests := []struct {
		name string
		idxs []int
		body string
		want bool
	}{
		{"ascii", []int{0}, "Subject: hi\r\n\r\nbody\r\n", false},
		{"8-bit body only", []int{0}, "Subject: hi\r\n\r\nbody ü\r\n", false},
		{"utf-8 header", []int{0}, "Subject: grüße\r\n\r\nbody\r\n", true},
		{"utf-8 recipient", []int{0, 1}, "Subject: hi\r\n\r\nbody\r\n", true},
		{"all header", []int{0}, "Subject: grüße\r\n", true},
		// Issue 20: the body was read as the header when the header section was empty.
		{"empty header section", []int{0}, "\r\nbody ü\r\n\r\nmore ü\r\n", false},
	}
	for _, tt := range tests {
		if got := needsSMTPUTF8(m, tt.idxs, []byte(tt.body)); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}
