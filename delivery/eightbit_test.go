package delivery

import (
	"bytes"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/queue"
)

// TestDeliver_8BitOnlyWhereOffered: an 8-bit body goes out with
// BODY=8BITMIME to a server that offers it, and never raw to one that
// does not (RFC 6152): that recipient fails with 5.6.3, unconverted. A
// 7-bit body goes to both.
func TestDeliver_8BitOnlyWhereOffered(t *testing.T) {
	t.Parallel()
	eachWire(t, func(t *testing.T, w *world) {
		modern := w.mx("modern.example", 10, smtptest.Options{})
		old := w.mx("old.example", 10, smtptest.Options{No8BitMIME: true})
		w.start()
		send := func(to, body string) queue.ID {
			return w.enqueueEnv(queue.Envelope{From: "app@sender.example", To: []queue.RecipientParams{{Addr: to}}}, body)
		}
		const eightBit = "Subject: hi\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße aus Köln\r\n"
		const sevenBit = "Subject: hi\r\n\r\nplain ASCII\r\n"
		tests := []struct {
			to, body   string
			want       queue.State
			wantStatus string
		}{
			{"a@modern.example", eightBit, queue.Delivered, "2.0.0"},
			{"b@old.example", eightBit, queue.Failed, "5.6.3"},
			{"c@old.example", sevenBit, queue.Delivered, "2.0.0"},
		}
		for _, tt := range tests {
			id := send(tt.to, tt.body)
			r := w.waitFinal(id, 1, 10*time.Second)[tt.to]
			if r.State != tt.want || r.Status != tt.wantStatus {
				t.Errorf("%s: %v %s %q, want %v %s", tt.to, r.State, r.Status, r.Response, tt.want, tt.wantStatus)
			}
		}
		if msgs := modern.Messages(); len(msgs) != 1 || msgs[0].MailOpts == nil || msgs[0].MailOpts.Body != smtp.Body8BitMIME {
			t.Errorf("the 8BITMIME server got %+v; want one message sent with BODY=8BITMIME", msgs)
		}
		for _, m := range old.Messages() {
			if bytes.ContainsFunc(m.Data, func(r rune) bool { return r >= 0x80 }) || m.To[0] != "c@old.example" {
				t.Errorf("the 7-bit server got %v with %q", m.To, m.Data)
			}
		}
		if n := old.MessageCount(); n != 1 {
			t.Errorf("the 7-bit server got %d messages, want only the ASCII one", n)
		}
	})
}
