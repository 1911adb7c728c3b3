package e2e

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/mxout/mxout/internal/testcert"
	"github.com/mxout/mxout/internal/testhttp"
	"golang.org/x/crypto/bcrypt"
)

// scrape is one read of /metrics: every sample by its series as printed
// (`name{label="value",...}`), and the HELP and TYPE of every family.
type scrape struct {
	values map[string]float64
	help   map[string]string
	types  map[string]string
}

func (r *relay) scrape(t *testing.T) scrape {
	t.Helper()
	code, body := r.endpoint(t, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics = %d", code)
	}
	s := scrape{values: map[string]float64{}, help: map[string]string{}, types: map[string]string{}}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			name, help, _ := strings.Cut(rest, " ")
			s.help[name] = help
			continue
		}
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(rest, " ")
			s.types[name] = typ
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("/metrics line %q: %v", line, err)
		}
		s.values[line[:i]] = v
	}
	return s
}

// get is the value of one series; a missing series fails the test, since
// every bounded series mxout exports exists from the start.
func (s scrape) get(t *testing.T, series string) float64 {
	t.Helper()
	v, ok := s.values[series]
	if !ok {
		t.Fatalf("no series %s in /metrics", series)
	}
	return v
}

// sum adds every series of name whose labels include all of match.
func (s scrape) sum(name string, match ...string) float64 {
	total := 0.0
	for series, v := range s.values {
		n, labels, _ := strings.Cut(series, "{")
		if n != name {
			continue
		}
		all := true
		for _, m := range match {
			all = all && strings.Contains(labels, m)
		}
		if all {
			total += v
		}
	}
	return total
}

// endpoint GETs a path of the metrics listener.
func (r *relay) endpoint(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, b := testhttp.Do(t, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", r.metricsPort, path), "", nil)
	return resp.StatusCode, string(b)
}

// writeSelfSignedCert writes cert.pem and key.pem for relay.e2e.invalid
// into dir.
func writeSelfSignedCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	return testcert.WriteNew(t, dir, "relay.e2e.invalid", "relay.e2e.invalid")
}

// logLines decodes the relay's JSON log lines with the given msg.
func logLines(t *testing.T, r *relay, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(r.logs(), "\n") {
		var l map[string]any
		if json.Unmarshal([]byte(line), &l) == nil && l["msg"] == msg {
			out = append(out, l)
		}
	}
	return out
}

// submissionWithAuth adds a STARTTLS listener and the user "app" with
// password to r's config, and returns the listener's address.
func submissionWithAuth(t *testing.T, r *relay, password string) string {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := writeSelfSignedCert(t, r.dir)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	sub := r.config["submission"].(map[string]any)
	sub["listeners"] = append(sub["listeners"].([]any), map[string]any{"address": addr, "tls": "starttls"})
	sub["tls"] = map[string]any{"cert_file": certFile, "key_file": keyFile}
	sub["users"] = []any{map[string]any{"username": "app", "password_hash": string(hash), "allowed_senders": []any{"*@sender.example"}}}
	r.writeConfig()
	return addr
}

// authSession opens a STARTTLS session on addr and logs in as app, after
// one failed attempt with wrongPassword when that is set.
func authSession(t *testing.T, addr, wrongPassword, password string) *smtp.Client {
	t.Helper()
	c, err := smtp.DialStartTLS(addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Hello("client.e2e.invalid"); err != nil {
		t.Fatal(err)
	}
	if wrongPassword != "" {
		if err := c.Auth(sasl.NewPlainClient("", "app", wrongPassword)); err == nil {
			t.Fatal("AUTH with a wrong password succeeded")
		}
	}
	if err := c.Auth(sasl.NewPlainClient("", "app", password)); err != nil {
		t.Fatalf("AUTH: %v", err)
	}
	return c
}

// checkHelpForAll fails for an mxout metric without # HELP or # TYPE.
func checkHelpForAll(t *testing.T, s scrape) {
	t.Helper()
	for _, name := range []string{
		"mxout_queue_messages", "mxout_queue_oldest_message_age_seconds", "mxout_queue_bytes",
		"mxout_messages_accepted_total", "mxout_messages_rejected_total", "mxout_deliveries_total",
		"mxout_delivery_attempt_duration_seconds", "mxout_delivery_latency_seconds", "mxout_bounces_sent_total",
		"mxout_smtp_sessions_active", "mxout_auth_failures_total", "mxout_dns_lookups_total",
		"mxout_dns_lookup_duration_seconds", "mxout_outbound_tls_total", "mxout_remote_replies_total", "mxout_ready",
		"go_goroutines", "process_resident_memory_bytes",
	} {
		if s.help[name] == "" || s.types[name] == "" {
			t.Errorf("%s has no # HELP or # TYPE", name)
		}
	}
	for _, h := range []string{"mxout_delivery_attempt_duration_seconds", "mxout_delivery_latency_seconds"} {
		for _, le := range []string{"0.01", "86400"} {
			if _, ok := s.values[h+`_bucket{le="`+le+`"}`]; !ok {
				t.Errorf("%s has no bucket le=%s (10 ms … 24 h)", h, le)
			}
		}
	}
	for name := range s.help {
		if strings.HasPrefix(name, "mxout_") && s.help[name] == "" {
			t.Errorf("%s has an empty # HELP", name)
		}
	}
}
