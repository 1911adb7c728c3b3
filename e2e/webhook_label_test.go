package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/internal/testwait"
)

// Receivers often take their credential in the URL: Slack-style in the
// path, others in the query. /metrics and the logs name an endpoint, and
// must not print it: one receiver refuses a POST then takes the rest, a
// second cannot be reached (the HTTP client's error names the URL), a
// third has a name, and the relay logs at debug.
func TestWebhooks_LabelHidesTheURLsTokens(t *testing.T) {
	t.Parallel()
	const (
		pathToken  = "PathTokenXq7Zk2"
		queryToken = "QueryTokenWm4Rt9"
		deadToken  = "DeadTokenHv8Lp3"
	)
	e := newEnv(t)
	e.mx("dest.example", 10, smtptest.Options{})
	hook := newHookReceiver(t, func(post int) int {
		if post == 0 {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	})
	live := hook.srv.URL + "/hooks/T0/B0/" + pathToken + "?token=" + queryToken
	dead := fmt.Sprintf("http://127.0.0.1:%d/hooks/%s/in?token=%s", freePort(t), deadToken, deadToken)
	port, over := apiOverrides(t)
	merge(over, map[string]any{"webhooks": map[string]any{
		"endpoints": []any{
			map[string]any{"url": live, "secret": hook.secret},
			map[string]any{"url": dead, "secret": hook.secret},
			map[string]any{"name": "crm", "url": hook.srv.URL + "/named?token=" + queryToken, "secret": hook.secret},
		},
		"retry": map[string]any{"initial": "100ms", "max_interval": "500ms"},
	}})
	r := e.newRelay(over).start()
	apiSend(t, port, appToken, map[string]any{"from": "x@sender.example", "to": []string{"a@dest.example"}, "text": "t"}).receipt(t)

	testwait.For(t, 30*time.Second, "a POST acknowledged, one refused and one unanswered", func() bool {
		s := r.scrape(t)
		return s.sum("mxout_webhook_posts_total", `result="ok"`) >= 1 &&
			s.sum("mxout_webhook_posts_total", `result="status"`) >= 1 &&
			s.sum("mxout_webhook_posts_total", `result="error"`) >= 1
	})
	_, metrics := r.endpoint(t, "/metrics")
	logs := r.logs()
	for _, tok := range []string{pathToken, queryToken, deadToken} {
		if strings.Contains(metrics, tok) {
			t.Errorf("/metrics shows the URL token %s:\n%s", tok, grepLines(metrics, tok))
		}
		if strings.Contains(logs, tok) {
			t.Errorf("the log shows the URL token %s:\n%s", tok, grepLines(logs, tok))
		}
	}
	// Each endpoint keeps a series of its own: its name, or its scheme,
	// host and port and a hash.
	s := r.scrape(t)
	if !hasSeries(s, "mxout_webhook_backlog", `endpoint="crm"`) {
		t.Error(`no mxout_webhook_backlog{endpoint="crm"} for the endpoint named crm`)
	}
	for _, u := range []string{live, dead} {
		prefix := u[:strings.Index(u, "/hooks/")] + `/...#`
		if !hasSeries(s, "mxout_webhook_backlog", `endpoint="`+prefix) {
			t.Errorf("no mxout_webhook_backlog series for an endpoint labelled %s<hash>", prefix)
		}
	}
}

// hasSeries tells whether some series of name has labels containing match.
func hasSeries(s scrape, name, match string) bool {
	for series := range s.values {
		n, labels, _ := strings.Cut(series, "{")
		if n == name && strings.Contains(labels, match) {
			return true
		}
	}
	return false
}

// grepLines is the lines of text that contain s.
func grepLines(text, s string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
