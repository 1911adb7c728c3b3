package e2e

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/internal/testwait"
)

// The metrics an SRE watches the relay itself with: what runs, when its
// certificate expires, whether the last reload took, DKIM signing and
// dead destinations, read from the built binary's /metrics.
func TestMetrics_BuildCertificateReloadDKIMAndDeadDestinations(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.mx("dest.example", 10, smtptest.Options{})
	dead := e.mx("dead.example", 10, smtptest.Options{})
	dead.SetGreeting(&smtptest.Reply{Code: 421, Message: "too busy"})
	dir := t.TempDir()
	certFile, keyFile := writeSelfSignedCert(t, dir)
	key := e.keygen(dir, "sender.example", "s1", "ed25519-sha256")
	tlsPort := freePort(t)
	r := e.newRelay(nil)
	merge(r.config, map[string]any{
		"submission": map[string]any{
			"listeners": []any{
				map[string]any{"address": fmt.Sprintf("127.0.0.1:%d", r.port), "tls": "none"},
				map[string]any{"address": fmt.Sprintf("127.0.0.1:%d", tlsPort), "tls": "starttls"},
			},
			"tls": map[string]any{"cert_file": certFile, "key_file": keyFile},
		},
		"dkim":     map[string]any{"domains": map[string]any{"sender.example": map[string]any{"selector": "s1", "private_key_file": key}}},
		"metrics":  map[string]any{"domains": []any{"sender.example"}},
		"delivery": map[string]any{"dead_destination": map[string]any{"failures": 1, "hold": "1h"}},
	})
	r.writeConfig()
	started := time.Now()
	r.start()

	s := r.scrape(t)
	if v := s.sum("mxout_build_info", `goversion="`+runtime.Version()+`"`, `version="`, `commit="`); v != 1 {
		t.Errorf("mxout_build_info with goversion %s = %v, want one series of 1", runtime.Version(), v)
	}
	pemBytes, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(pemBytes)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	series := fmt.Sprintf(`mxout_tls_certificate_expiry_timestamp_seconds{listener="127.0.0.1:%d"}`, tlsPort)
	if v := s.get(t, series); v != float64(cert.NotAfter.Unix()) {
		t.Errorf("%s = %v, want %d (the certificate's NotAfter)", series, v, cert.NotAfter.Unix())
	}
	if n := s.sum("mxout_tls_certificate_expiry_timestamp_seconds"); n != float64(cert.NotAfter.Unix()) {
		t.Errorf("the plaintext listener has a certificate series too (sum %v)", n)
	}
	if v := s.get(t, "mxout_delivery_max_lifetime_seconds"); v != 3600 {
		t.Errorf("mxout_delivery_max_lifetime_seconds = %v, want the config's 1h", v)
	}
	if v := s.get(t, "mxout_config_last_reload_successful"); v != 1 {
		t.Errorf("mxout_config_last_reload_successful = %v after the start, want 1", v)
	}
	at := s.get(t, "mxout_config_last_reload_success_timestamp_seconds")
	if at < float64(started.Unix()) || at > float64(time.Now().Unix()+1) {
		t.Errorf("mxout_config_last_reload_success_timestamp_seconds = %v, want the start (%d)", at, started.Unix())
	}

	// DKIM: one message signed for sender.example, one with no key.
	for _, from := range []string{"app@sender.example", "app@nokey.example"} {
		if _, err := r.send(from, []string{"a@dest.example"}, "From: <"+from+">\r\nSubject: x\r\n\r\nx\r\n"); err != nil {
			t.Fatal(err)
		}
	}
	s = r.scrape(t)
	for series, want := range map[string]float64{
		`mxout_dkim_signatures_total{domain="sender.example",result="signed"}`: 1,
		`mxout_dkim_signatures_total{domain="other",result="no_key"}`:          1,
		`mxout_dkim_signatures_total{domain="sender.example",result="failed"}`: 0,
	} {
		if v := s.get(t, series); v != want {
			t.Errorf("%s = %v, want %v", series, v, want)
		}
	}

	// A destination that fails once (dead_destination.failures: 1) is dead.
	if v := s.get(t, "mxout_destinations_dead"); v != 0 {
		t.Errorf("mxout_destinations_dead = %v before any failure", v)
	}
	if _, err := r.send("app@nokey.example", []string{"x@dead.example"}, "Subject: x\r\n\r\nx\r\n"); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 20*time.Second, "mxout_destinations_dead 1", func() bool { return r.scrape(t).get(t, "mxout_destinations_dead") == 1 })

	// A reload that fails, then one that works.
	good, err := os.ReadFile(r.configPath)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, r.configPath, []byte("delivery: {workers: -1}\n"))
	r.cmd.Process.Signal(syscall.SIGHUP)
	testwait.For(t, 10*time.Second, "mxout_config_last_reload_successful 0", func() bool {
		return r.scrape(t).get(t, "mxout_config_last_reload_successful") == 0
	})
	if v := r.scrape(t).get(t, "mxout_config_last_reload_success_timestamp_seconds"); v != at {
		t.Errorf("a failed reload moved the success time from %v to %v", at, v)
	}
	writeFile(t, r.configPath, good)
	r.cmd.Process.Signal(syscall.SIGHUP)
	testwait.For(t, 10*time.Second, "mxout_config_last_reload_successful 1 and a later success time", func() bool {
		s := r.scrape(t)
		return s.get(t, "mxout_config_last_reload_successful") == 1 && s.get(t, "mxout_config_last_reload_success_timestamp_seconds") > at
	})
}
