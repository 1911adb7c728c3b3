package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mxout/mxout/internal/testwait"
)

// An application's Message-ID leads, through the accepted line, to the
// queue ID, and the queue ID to every line about the message, ending
// with "removed" when it leaves the queue (as in Postfix's log): here
// after one recipient was delivered and the other refused (and bounced).
func TestLogs_MessageIDLeadsToTheQueueIDAndTheEnd(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mx := e.mxWithout("dest.example", "gone@dest.example")
	r := e.newRelay(nil).start()
	body := "From: app@sender.example\r\nMessage-ID: <order-42.1764590000@app.sender.example>\r\nSubject: receipt\r\n\r\nthanks\r\n"
	if _, err := r.send("app@sender.example", []string{"ok@dest.example", "gone@dest.example"}, body); err != nil {
		t.Fatal(err)
	}

	var id string
	testwait.For(t, 30*time.Second, "the accepted line with the Message-ID and the removed line of its queue ID", func() bool {
		for _, l := range logLines(t, r, "accepted") {
			if l["message_id"] == "<order-42.1764590000@app.sender.example>" {
				id, _ = l["queue_id"].(string)
			}
		}
		return id != "" && strings.Contains(r.logs(), `"msg":"removed","queue_id":"`+id+`"`)
	})

	// Every line about the message, in order.
	var msgs []string
	for _, line := range strings.Split(r.logs(), "\n") {
		var l map[string]any
		if json.Unmarshal([]byte(line), &l) == nil && l["queue_id"] == id {
			msgs = append(msgs, l["msg"].(string)+" "+str(l["status"])+str(l["reason"]))
		}
	}
	if len(msgs) < 4 || msgs[0] != "accepted " || msgs[len(msgs)-1] != "removed final" {
		t.Fatalf("lines about %s: %q; want accepted first and removed (reason final) last", id, msgs)
	}
	var sent, bounced bool
	for _, m := range msgs[1 : len(msgs)-1] {
		sent = sent || m == "delivery attempt sent"
		bounced = bounced || m == "delivery attempt bounced"
		if strings.HasPrefix(m, "removed") {
			t.Errorf("removed before the end: %q", msgs)
		}
	}
	if !sent || !bounced {
		t.Errorf("lines about %s: %q; want a delivery attempt sent and one bounced", id, msgs)
	}
	if n := mx.MessageCount(); n < 1 {
		t.Errorf("the MX has %d messages", n)
	}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
