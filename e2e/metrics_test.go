package e2e

import (
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/internal/testwait"
)

// TestMetrics_RunWithDeliveriesDeferralsAndBounces scrapes the binary's
// /metrics before, during and after a run in which mail is delivered,
// deferred and bounced, and checks every metric against the test's own
// counts, then the log lines against the metrics, then that the log
// holds no message body and no password.
func TestMetrics_RunWithDeliveriesDeferralsAndBounces(t *testing.T) {
	t.Parallel()
	const (
		bodyMarker = "BODY-MARKER-7f3a9c"
		password   = "right-PASSWORD-4be1"
		wrongPass  = "wrong-PASSWORD-9c2d"
	)
	e := newEnv(t)
	okMX := e.mx("ok.example", 10, smtptest.Options{TLS: true})
	slowMX := e.mx("slow.example", 10, smtptest.Options{})
	badMX := e.mxWithout("bad.example", "gone@bad.example")
	senderMX := e.mx("sender.example", 10, smtptest.Options{})
	var slowOpen atomic.Bool
	var slowDeferred atomic.Int64
	slowMX.SetRcptFunc(func(string, int) *smtptest.Reply {
		if slowOpen.Load() {
			return nil
		}
		slowDeferred.Add(1)
		return &smtptest.Reply{Code: 451, Enhanced: [3]int{4, 7, 1}, Message: "greylisted, try again"}
	})

	r := e.newRelay(map[string]any{
		"metrics": map[string]any{"domains": []any{"ok.example", "bad.example"}, "pprof": true},
		"delivery": map[string]any{
			"connection_idle_timeout": "300ms",
			"retry":                   map[string]any{"initial": "200ms", "multiplier": 2, "max_interval": "800ms", "jitter": 0, "max_lifetime": "1h", "delay_notice_after": "1s"},
		},
	})
	authAddr := submissionWithAuth(t, r, password)
	r.start()

	// Before: the endpoints answer, every counter is 0, the queue empty.
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/debug/pprof/": 200} {
		if code, body := r.endpoint(t, path); code != want {
			t.Errorf("GET %s = %d, want %d: %s", path, code, want, body)
		}
	}
	before := r.scrape(t)
	for series, want := range map[string]float64{
		"mxout_ready": 1, "mxout_messages_accepted_total": 0, "mxout_queue_bytes": 0,
		`mxout_deliveries_total{domain="ok.example",result="delivered"}`: 0,
		`mxout_smtp_sessions_active{side="submission"}`:                  0,
	} {
		if got := before.get(t, series); got != want {
			t.Errorf("before: %s = %v, want %v", series, got, want)
		}
	}

	// A refused recipient.
	c, err := smtp.Dial(fmt.Sprintf("127.0.0.1:%d", r.port))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Hello("client.e2e.invalid"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("app@sender.example", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("user@single-label", nil); err == nil {
		t.Fatal("RCPT TO:<user@single-label> was accepted")
	}
	c.Quit()

	// One failed and one good AUTH; the session stays open for a scrape.
	ac := authSession(t, authAddr, wrongPass, password)
	testwait.For(t, 5*time.Second, "one open submission session", func() bool {
		return r.scrape(t).get(t, `mxout_smtp_sessions_active{side="submission"}`) == 1
	})
	if err := ac.SendMail("app@sender.example", []string{"d@ok.example"}, strings.NewReader(message(bodyMarker+"-auth"))); err != nil {
		t.Fatalf("send as app: %v", err)
	}
	ac.Quit()

	success := map[string]*smtp.RcptOptions{"a@ok.example": {Notify: []smtp.DSNNotify{smtp.DSNNotifySuccess}}}
	if err := r.sendDSN("app@sender.example", nil, []string{"a@ok.example", "b@ok.example"}, success, message(bodyMarker+"-1")); err != nil {
		t.Fatal(err)
	}
	delay := map[string]*smtp.RcptOptions{"c@slow.example": {Notify: []smtp.DSNNotify{smtp.DSNNotifyDelayed, smtp.DSNNotifyFailure}}}
	if err := r.sendDSN("app@sender.example", nil, []string{"c@slow.example"}, delay, message(bodyMarker+"-2")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.send("app@sender.example", []string{"gone@bad.example"}, message(bodyMarker+"-3")); err != nil {
		t.Fatal(err)
	}

	// During: everything but c@slow.example is done (the failure, success
	// and delay reports delivered to the sender), and c waits in the queue.
	testwait.For(t, 20*time.Second, "three reports at the sender and two messages at ok.example", func() bool {
		return senderMX.MessageCount() == 3 && okMX.MessageCount() == 2
	})
	var during scrape
	testwait.For(t, 10*time.Second, "one message left in the queue", func() bool {
		during = r.scrape(t)
		return during.sum("mxout_queue_messages") == 1
	})
	if during.get(t, `mxout_queue_messages{state="held"}`) != 0 {
		t.Errorf("during: a held message, none was held")
	}
	if age := during.get(t, "mxout_queue_oldest_message_age_seconds"); age < 1 || age > 60 {
		t.Errorf("during: oldest message age %v s; the waiting one is older than delay_notice_after (1s)", age)
	}
	if during.get(t, "mxout_queue_bytes") <= 0 {
		t.Errorf("during: mxout_queue_bytes = 0 with a message queued")
	}
	if during.get(t, `mxout_deliveries_total{domain="other",result="deferred"}`) < 1 {
		t.Errorf("during: no deferral counted")
	}
	if during.get(t, `mxout_bounces_sent_total{type="delay"}`) != 1 {
		t.Errorf("during: the delay report is not counted")
	}

	// After: c@slow.example is let through; the queue drains and the
	// cached outbound connections time out.
	slowOpen.Store(true)
	slowMX.WaitMessages(t, 1, 20*time.Second)
	var after scrape
	testwait.For(t, 20*time.Second, "an empty queue and no open sessions", func() bool {
		after = r.scrape(t)
		return after.sum("mxout_queue_messages") == 0 && after.get(t, "mxout_queue_bytes") == 0 &&
			after.sum("mxout_smtp_sessions_active") == 0 &&
			after.get(t, `mxout_deliveries_total{domain="other",result="delivered"}`) == 4
	})
	k := float64(slowDeferred.Load())
	want := map[string]float64{
		`mxout_queue_messages{state="ready"}`:                 0,
		`mxout_queue_messages{state="deferred"}`:              0,
		`mxout_queue_messages{state="inflight"}`:              0,
		`mxout_queue_messages{state="held"}`:                  0,
		"mxout_queue_oldest_message_age_seconds":              0,
		"mxout_queue_bytes":                                   0,
		"mxout_messages_accepted_total":                       4,
		`mxout_messages_rejected_total{reason="bad_address"}`: 1,
		"mxout_auth_failures_total":                           1,
		// a, b and d; c and the three reports; c's deferrals; gone.
		`mxout_deliveries_total{domain="ok.example",result="delivered"}`:  3,
		`mxout_deliveries_total{domain="other",result="delivered"}`:       4,
		`mxout_deliveries_total{domain="other",result="deferred"}`:        k,
		`mxout_deliveries_total{domain="bad.example",result="bounced"}`:   1,
		`mxout_deliveries_total{domain="ok.example",result="deferred"}`:   0,
		`mxout_deliveries_total{domain="ok.example",result="bounced"}`:    0,
		`mxout_deliveries_total{domain="bad.example",result="delivered"}`: 0,
		`mxout_deliveries_total{domain="other",result="bounced"}`:         0,
		`mxout_remote_replies_total{class="2xx",domain="ok.example"}`:     3,
		`mxout_remote_replies_total{class="2xx",domain="other"}`:          4,
		`mxout_remote_replies_total{class="4xx",domain="other"}`:          k,
		`mxout_remote_replies_total{class="5xx",domain="bad.example"}`:    1,
		`mxout_remote_replies_total{class="5xx",domain="other"}`:          0,
		`mxout_remote_replies_total{class="4xx",domain="ok.example"}`:     0,
		`mxout_bounces_sent_total{type="failure"}`:                        1,
		`mxout_bounces_sent_total{type="delay"}`:                          1,
		`mxout_bounces_sent_total{type="success"}`:                        1,
		// One transaction each for the two messages to ok.example, gone,
		// the three reports, and k+1 for c.
		"mxout_delivery_attempt_duration_seconds_count":                       k + 7,
		"mxout_delivery_latency_seconds_count":                                8,
		`mxout_smtp_sessions_active{side="submission"}`:                       0,
		`mxout_smtp_sessions_active{side="delivery"}`:                         0,
		`mxout_outbound_tls_total{policy="opportunistic",result="tls"}`:       float64(okMX.Connections()),
		`mxout_outbound_tls_total{policy="opportunistic",result="plaintext"}`: float64(slowMX.Connections() + badMX.Connections() + senderMX.Connections()),
		`mxout_outbound_tls_total{policy="opportunistic",result="failed"}`:    0,
		"mxout_ready": 1,
	}
	for series, w := range want {
		if got := after.get(t, series); got != w {
			t.Errorf("after: %s = %v, want %v", series, got, w)
		}
	}
	if k < 2 {
		t.Errorf("c@slow.example was deferred %v times; the delay report needs more than one", k)
	}
	for _, qtype := range []string{"MX", "A"} {
		n := after.sum("mxout_dns_lookups_total", `type="`+qtype+`"`)
		if n < 4 || after.sum("mxout_dns_lookups_total", `type="`+qtype+`"`, `result="ok"`) < 4 {
			t.Errorf("%s lookups = %v, want at least one per destination domain, all ok", qtype, n)
		}
		if got := after.get(t, `mxout_dns_lookup_duration_seconds_count{type="`+qtype+`"}`); got != n {
			t.Errorf("%s lookup durations observed %v, lookups counted %v", qtype, got, n)
		}
	}
	checkHelpForAll(t, after)

	// The log lines agree with the metrics, and hold no bodies or passwords.
	accepted := logLines(t, r, "accepted")
	if len(accepted) != 4 {
		t.Errorf("%d accepted lines, want 4", len(accepted))
	}
	users := 0
	for _, l := range accepted {
		for _, f := range []string{"queue_id", "client", "user", "from", "rcpts", "size", "tls"} {
			if _, ok := l[f]; !ok {
				t.Errorf("accepted line without %s: %v", f, l)
			}
		}
		if l["user"] == "app" && l["tls"] == true {
			users++
		}
	}
	if users != 1 {
		t.Errorf("%d accepted lines for the user app over TLS, want 1", users)
	}
	// The relay's stderr reaches the test through a pipe: give the last
	// lines a moment to arrive before comparing them with the scrape.
	testwait.For(t, 5*time.Second, "a delivery attempt line per counted delivery", func() bool {
		return float64(len(logLines(t, r, "delivery attempt"))) >= after.sum("mxout_deliveries_total")
	})
	attempts := logLines(t, r, "delivery attempt")
	if got := float64(len(attempts)); got != after.sum("mxout_deliveries_total") {
		t.Errorf("%v delivery attempt lines, mxout_deliveries_total sums to %v", got, after.sum("mxout_deliveries_total"))
	}
	for _, l := range attempts {
		for _, f := range []string{"queue_id", "to", "relay", "tls", "delay", "delays", "code", "dsn", "status", "response"} {
			if _, ok := l[f]; !ok {
				t.Errorf("delivery attempt line without %s: %v", f, l)
			}
		}
	}
	var kinds []string
	for _, l := range logLines(t, r, "bounce queued") {
		kinds = append(kinds, fmt.Sprint(l["type"]))
	}
	sort.Strings(kinds)
	if strings.Join(kinds, ",") != "delay,failure,success" {
		t.Errorf("bounce queued lines for %v, want delay, failure, success", kinds)
	}
	logs := r.logs()
	// The body line and the Subject must not be logged; the Message-ID,
	// which carries the marker too, is logged on purpose (accepted line).
	for _, secret := range []string{"marker " + bodyMarker, "e2e " + bodyMarker, password, wrongPass} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log contains %q", secret)
		}
	}
	if !strings.Contains(string(okMX.Messages()[0].Data), "marker "+bodyMarker) {
		t.Error("the body marker did not reach the destination; the log check proves nothing")
	}
}

// TestLogs_NoSmarthostPassword delivers through a smarthost that refuses
// the relay's password and checks the deferral is logged without it.
func TestLogs_NoSmarthostPassword(t *testing.T) {
	t.Parallel()
	const wrong = "smarthost-PASSWORD-31e7"
	e := newEnv(t)
	_, r := smarthostRelay(e, func(s *smtptest.Server, c map[string]any) {
		c["ca_file"] = caFile(t, s)
		c["password"] = wrong
	})
	if _, err := r.send("app@sender.example", []string{"a@nowhere.example"}, message("smarthost")); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 15*time.Second, "a deferral for the refused login", func() bool {
		return strings.Contains(r.logs(), `"dsn":"4.7.8"`)
	})
	if strings.Contains(r.logs(), wrong) {
		t.Errorf("the log contains the smarthost password:\n%s", r.logs())
	}
}
