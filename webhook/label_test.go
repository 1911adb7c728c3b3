package webhook

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxout/mxout/events"
	"github.com/mxout/mxout/internal/testlog"
	"github.com/mxout/mxout/internal/testwait"
)

var hashedLabel = regexp.MustCompile(`^https://hooks\.example\.com(:8443)?/\.\.\.#[0-9a-f]{8}$`)

// The label is the name when set; otherwise scheme://host[:port], and a
// hash in place of anything more, where receivers keep their tokens.
func TestEndpoint_Label(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		ep     Endpoint
		want   string // "" when the label must match hashedLabel
		secret string // must not appear in the label
	}{
		{ep: Endpoint{Name: "crm", URL: "https://hooks.example.com/T0/B0/Xq7Zk2?token=Wm4Rt9"}, want: "crm", secret: "Xq7Zk2"},
		{ep: Endpoint{URL: "https://hooks.example.com"}, want: "https://hooks.example.com"},
		{ep: Endpoint{URL: "https://hooks.example.com:8443"}, want: "https://hooks.example.com:8443"},
		{ep: Endpoint{URL: "https://hooks.example.com/"}},
		{ep: Endpoint{URL: "https://hooks.example.com/services/T0/B0/Xq7Zk2"}, secret: "Xq7Zk2"},
		{ep: Endpoint{URL: "https://hooks.example.com:8443/in?token=Wm4Rt9"}, secret: "Wm4Rt9"},
		{ep: Endpoint{URL: "https://hooks.example.com?token=Wm4Rt9"}, secret: "Wm4Rt9"},
		{ep: Endpoint{URL: "https://user:Pw9Sd2@hooks.example.com"}, secret: "Pw9Sd2"},
	} {
		got := tt.ep.Label()
		switch {
		case tt.want != "" && got != tt.want, tt.want == "" && !hashedLabel.MatchString(got):
			t.Errorf("Label(%q) = %q, want %q", tt.ep.URL, got, cmp.Or(tt.want, hashedLabel.String()))
		case tt.secret != "" && strings.Contains(got, tt.secret):
			t.Errorf("Label(%q) = %q shows %s", tt.ep.URL, got, tt.secret)
		}
	}
	a := Endpoint{URL: "https://hooks.example.com/a?token=1"}.Label()
	b := Endpoint{URL: "https://hooks.example.com/a?token=2"}.Label()
	if a == b {
		t.Errorf("two endpoints on one host share the label %q", a)
	}
}

// Endpoints with one label would share (and break) their metric series.
func TestNew_RefusesTwoEndpointsWithOneLabel(t *testing.T) {
	t.Parallel()
	q := openQueue(t, t.TempDir())
	cfg := testConfig(Endpoint{Name: "crm", URL: "http://127.0.0.1:1/a", Secret: "k"}, Endpoint{Name: "crm", URL: "http://127.0.0.1:1/b", Secret: "k"})
	if _, err := New(cfg, q); err == nil || !strings.Contains(err.Error(), "crm") {
		t.Errorf("New = %v, want an error naming the label crm", err)
	}
}

// An attacker who reads the logs or the metrics learns no token from an
// endpoint's URL: not from the label, nor from the HTTP client's errors
// (which quote the URL) when the endpoint cannot be reached.
func TestSender_LogsAndMetricsHideTheURLsTokens(t *testing.T) {
	t.Parallel()
	q := openQueue(t, t.TempDir())
	rc := newReceiver(t, "k", func(n int, _ *http.Request) int {
		if n == 0 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := fmt.Sprintf("http://%s/hooks/Dv3Path?token=Dv3Query", ln.Addr())
	ln.Close() // nothing listens there now: the POST fails to connect
	liveURL := rc.srv.URL + "/services/T0/B0/Lv5Path?token=Lv5Query"
	var logs testlog.Buffer
	obs := &observer{}
	cfg := testConfig(Endpoint{URL: liveURL, Secret: "k"}, Endpoint{URL: deadURL, Secret: "k"})
	cfg.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.Observer = obs
	s := startSender(t, cfg, q)
	appendEvents(t, q, 1, events.Delivered, billing, time.Now())

	live, dead := cfg.Endpoints[0].Label(), cfg.Endpoints[1].Label()
	testwait.For(t, 30*time.Second, "a refused, an acknowledged and an unanswered POST", func() bool {
		return slices.Contains(obs.of(live), ResultStatus) && slices.Contains(obs.of(live), ResultOK) &&
			slices.Contains(obs.of(dead), ResultError)
	})
	var seen []string
	for _, st := range s.Status() {
		seen = append(seen, st.Endpoint)
	}
	obs.mu.Lock()
	for label := range obs.results {
		seen = append(seen, label)
	}
	obs.mu.Unlock()
	text := logs.String()
	if !strings.Contains(text, "connection refused") {
		t.Errorf("the log does not say why the POST failed:\n%s", text)
	}
	for _, secret := range []string{"Dv3Path", "Dv3Query", "Lv5Path", "Lv5Query"} {
		if strings.Contains(text, secret) {
			t.Errorf("the log shows %s:\n%s", secret, text)
		}
		for _, label := range seen {
			if strings.Contains(label, secret) {
				t.Errorf("the label %q shows %s", label, secret)
			}
		}
	}
}

// A position stored before names existed (under the URL's hash, as every
// release stores it) is where the endpoint resumes once it has a name:
// nothing acknowledged is sent again, nothing written since is skipped.
func TestSender_NameKeepsTheStoredPosition(t *testing.T) {
	t.Parallel()
	q := openQueue(t, t.TempDir())
	rc := newReceiver(t, "k", nil)
	appendEvents(t, q, 2, events.Delivered, billing, time.Now())
	acked, err := q.LastEventSeq()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(rc.srv.URL + "/hook"))
	if err := q.SetEventCursor("webhook:"+hex.EncodeToString(sum[:16]), acked); err != nil {
		t.Fatal(err)
	}
	want := appendEvents(t, q, 3, events.Bounced, billing, time.Now())
	startSender(t, testConfig(Endpoint{Name: "crm", URL: rc.srv.URL + "/hook", Secret: "k"}), q)
	testwait.For(t, 30*time.Second, "the events after the stored position", func() bool { return len(rc.got()) >= 3 })
	inOrderOnce(t, rc.got(), want)
}
