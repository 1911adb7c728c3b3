package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/internal/testwait"
)

var mxFormat = regexp.MustCompile(`^mx-[0-9-]+\.dest\.example\[127\.[0-9.]+\]$`)

// A webhook receiver gets delivered, deferred and bounced events with
// valid signatures, for mail from the API and from SMTP; the feed shows
// a key its own messages' events.
func TestWebhooks_DeliveredDeferredBounced(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mx := e.mxWithout("dest.example", "gone@dest.example")
	mx.SetRcptFunc(func(addr string, attempt int) *smtptest.Reply {
		if addr == "later@dest.example" && attempt == 1 {
			return &smtptest.Reply{Code: 451, Enhanced: [3]int{4, 3, 0}, Message: "try again"}
		}
		return nil
	})
	hook := newHookReceiver(t, nil)
	port, over := apiOverrides(t)
	merge(over, webhookOverrides(hook))
	r := e.newRelay(over).start()

	rc := apiSend(t, port, appToken, map[string]any{
		"from": "a@sender.example", "to": []string{"ok@dest.example", "later@dest.example", "gone@dest.example"},
		"text": "hello", "metadata": map[string]string{"order": "42"},
	}).receipt(t)
	if reply, err := r.send("smtp@sender.example", []string{"viasmtp@dest.example"}, message("via-smtp")); err != nil {
		t.Fatalf("SMTP: %v %s", err, reply)
	}
	testwait.For(t, 30*time.Second, "the events at the receiver", func() bool {
		return len(hook.of("later@dest.example")) >= 2 && len(hook.of("ok@dest.example")) >= 1 &&
			len(hook.of("gone@dest.example")) >= 1 && len(hook.of("viasmtp@dest.example")) >= 1
	})
	ok := hook.of("ok@dest.example")[0]
	if ok.Type != "delivered" || ok.DSN != "2.0.0" || !strings.HasPrefix(ok.Reply, "250 ") || !mxFormat.MatchString(ok.MX) ||
		ok.QueueID != rc.ID || ok.MessageID != rc.MessageID || ok.Sender != "a@sender.example" || ok.Metadata["order"] != "42" ||
		ok.Attempt != 1 || ok.ID == "" || ok.Time.IsZero() {
		t.Errorf("delivered event %+v", ok)
	}
	if later := hook.of("later@dest.example"); later[0].Type != "deferred" || later[0].DSN != "4.3.0" || !strings.Contains(later[0].Reply, "try again") ||
		later[1].Type != "delivered" || later[1].Attempt != 2 {
		t.Errorf("deferred then delivered: %+v", later)
	}
	if gone := hook.of("gone@dest.example"); gone[0].Type != "bounced" || gone[0].DSN != "5.1.1" || !strings.Contains(gone[0].Reply, "no such user") {
		t.Errorf("bounced: %+v", gone)
	}
	if s := hook.of("viasmtp@dest.example"); s[0].Type != "delivered" || s[0].Sender != "smtp@sender.example" {
		t.Errorf("SMTP-submitted mail's event %+v", s)
	}
	hook.mu.Lock()
	if hook.badSig != 0 || hook.maxBatch > 100 || !strings.HasPrefix(hook.lastHeader, "t=") {
		t.Errorf("%d POSTs with a bad signature, largest batch %d, header %q", hook.badSig, hook.maxBatch, hook.lastHeader)
	}
	hook.mu.Unlock()

	// The feed: the key's own events, from the oldest kept; then caught up.
	var feed struct {
		Events []wireEvent `json:"events"`
		Next   string      `json:"next"`
	}
	ans := apiCall(t, port, http.MethodGet, "/v1/events", appToken, nil)
	if ans.status != 200 || json.Unmarshal(ans.body, &feed) != nil {
		t.Fatalf("feed: %s", ans)
	}
	for _, ev := range feed.Events {
		if ev.QueueID != rc.ID {
			t.Errorf("the feed of key app shows %+v", ev)
		}
	}
	if len(feed.Events) != 4 || feed.Next == "" {
		t.Errorf("feed: %d events, next %q; want the 4 of the API message", len(feed.Events), feed.Next)
	}
	ans = apiCall(t, port, http.MethodGet, "/v1/events?after="+feed.Next, appToken, nil)
	if ans.status != 200 || !strings.Contains(string(ans.body), `"events":[]`) {
		t.Errorf("after next: %s, want no events", ans)
	}
	ans = apiCall(t, port, http.MethodGet, "/v1/events", otherToken, nil)
	if !strings.Contains(string(ans.body), `"events":[]`) {
		t.Errorf("another key's feed: %s", ans)
	}
}

// A receiver that answers 500 twice still gets every event, in order.
func TestWebhooks_Receiver500TwiceGetsEverything(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.mx("dest.example", 10, smtptest.Options{})
	hook := newHookReceiver(t, func(post int) int {
		if post < 2 {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	})
	port, over := apiOverrides(t)
	merge(over, webhookOverrides(hook))
	e.newRelay(over).start()
	var ids []string
	for _, to := range []string{"a@dest.example", "b@dest.example", "c@dest.example"} {
		ids = append(ids, apiSend(t, port, appToken, map[string]any{"from": "x@sender.example", "to": []string{to}, "text": "t"}).receipt(t).ID)
	}
	testwait.For(t, 30*time.Second, "3 delivered events", func() bool { return len(hook.got()) >= 3 })
	hook.mu.Lock()
	posts := hook.posts
	hook.mu.Unlock()
	if posts < 3 {
		t.Errorf("%d POSTs, want the two refused and more", posts)
	}
	seen := map[string]bool{}
	for _, ev := range hook.got() {
		seen[ev.QueueID] = ev.Type == "delivered"
	}
	for _, id := range ids {
		if !seen[id] {
			t.Errorf("no delivered event for %s", id)
		}
	}
}

// apiTry posts a send without failing the test: the relay may be down.
func apiTry(port int, token string, v any) int {
	body, _ := json.Marshal(v)
	req, err := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/v1/send", port), bytes.NewReader(body))
	if err != nil {
		return 0
	}
	req.Header.Set("Authorization", "Bearer "+token)
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// Under load from the API and SMTP, with SIGKILLs of the relay while
// deliveries are in flight, every recipient that arrived at the sink has
// a delivered event at the webhook receiver: an event is written in the
// same commit as the result it describes, so a kill loses neither alone.
func TestEvents_SIGKILLUnderLoadEveryArrivalHasItsEvent(t *testing.T) {
	t.Parallel()
	const kills = 3
	e := newEnv(t)
	mx := e.mx("dest.example", 10, smtptest.Options{})
	mx.SetDataDelay(100 * time.Millisecond)
	hook := newHookReceiver(t, nil)
	port, over := apiOverrides(t)
	merge(over, webhookOverrides(hook))
	over["delivery"] = map[string]any{"workers": 16}
	r := e.newRelay(over).start()

	stop := clients(4, func(c, i int) {
		to := fmt.Sprintf("k%d-%d@dest.example", c, i)
		if c%2 == 0 {
			apiTry(port, appToken, map[string]any{"from": "a@sender.example", "to": []string{to}, "text": "load"})
		} else {
			r.submit("a@sender.example", []string{to}, message(fmt.Sprintf("k%d-%d", c, i)))
		}
		time.Sleep(20 * time.Millisecond)
	})
	for k := 0; k < kills; k++ {
		before := mx.MessageCount()
		testwait.For(t, 30*time.Second, "more deliveries, and some in DATA", func() bool {
			return mx.MessageCount() >= before+20 && mx.Active() > 0
		})
		r.kill()
		r.start()
	}
	stop()

	arrived := map[string]bool{}
	delivered := map[string]bool{}
	testwait.For(t, 120*time.Second, "a delivered event for every recipient that arrived", func() bool {
		for _, m := range mx.Messages() {
			for _, to := range m.To {
				arrived[to] = true
			}
		}
		for _, ev := range hook.got() {
			if ev.Type == "delivered" {
				delivered[ev.Recipient] = true
			}
		}
		for to := range arrived {
			if !delivered[to] {
				return false
			}
		}
		return len(arrived) > 0
	})
	hook.mu.Lock()
	bad := hook.badSig
	hook.mu.Unlock()
	if bad != 0 {
		t.Errorf("%d POSTs with a bad signature", bad)
	}
	t.Logf("%d kills: %d recipients arrived (%d transactions), each with a delivered event; %d events acknowledged", kills, len(arrived), mx.MessageCount(), len(hook.got()))
}
