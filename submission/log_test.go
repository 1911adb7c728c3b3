package submission

import (
	"strings"
	"testing"

	"github.com/mxout/mxout/configs"
)

// The accepted line carries the message's Message-ID, the one the
// application knows, so that it leads to the queue ID; one the client
// chose is logged on one line and bounded.
func TestAccepted_LogsTheMessageID(t *testing.T) {
	t.Parallel()
	long := "<" + strings.Repeat("x", 1900) + "\r\n " + strings.Repeat("y", 1900) + "@app.example>"
	tests := []struct {
		name, data, want string
	}{
		{"the application's", message("Message-ID: <order-42@app.example>", "Subject: hi", "", "body"), "message_id=<order-42@app.example> "},
		{"folded", message("Message-ID:", " <folded-7@app.example>", "Subject: hi", "", "body"), "message_id=<folded-7@app.example> "},
		{"added by the relay", message("Subject: no id", "", "body"), "message_id=<{id}@relay.example.net> "},
		{"hostile: long", message("Message-ID: "+long, "", "body"), "message_id=<" + strings.Repeat("x", 252) + "... "},
		{"hostile: line breaks", message("Message-ID: <a@b>", " \tclient=1.2.3.4 queue_id=forged", "", "body"), `message_id="<a@b> client=1.2.3.4 queue_id=forged" `},
	}
	h := start(t, testConfig(), openQueue(t, nil), configs.TLSNone)
	for _, tt := range tests {
		c := dialRaw(t, h.addr)
		c.must("EHLO client.example", "250")
		id := queuedID(t, c.send("a@example.org", []string{"b@example.com"}, dotEnd(tt.data)))
		want := "msg=accepted queue_id=" + string(id) + " " + strings.ReplaceAll(tt.want, "{id}", string(id))
		if !strings.Contains(h.logs.String(), want) {
			t.Errorf("%s: no %q in the log:\n%s", tt.name, want, h.logs)
		}
	}
}
