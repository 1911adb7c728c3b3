package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	msgauth "github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-smtp"
	"github.com/miekg/dns"

	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/internal/testwait"
	"github.com/mxout/mxout/resolver"
	"github.com/mxout/mxout/resolver/dnstest"
)

// eightBitMessage has folded headers and an 8-bit body, which relaxed
// canonicalisation and the relay must carry intact.
func eightBitMessage(marker string) string {
	return "From: =?utf-8?q?J=C3=BCrgen?=\r\n <app@sender.example>\r\n" +
		"To: someone@dest.example,\r\n\tother@dest.example\r\n" +
		"Subject: Grüße " + marker + "\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n" +
		"\r\nSchöne Grüße  \r\n€ ✓\r\nmarker " + marker + "\r\n\r\n"
}

// keygen runs `mxout dkim keygen` as a user would, writes the key into
// dir and publishes the printed record in e's DNS. It returns the key file.
func (e *env) keygen(dir, domain, selector, algorithm string) string {
	e.t.Helper()
	file := filepath.Join(dir, selector+".pem")
	out, err := exec.Command(binary(e.t), "dkim", "keygen", "--domain", domain, "--selector", selector,
		"--algorithm", algorithm, "--out", file).CombinedOutput()
	if err != nil {
		e.t.Fatalf("dkim keygen: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if line == "" || strings.HasPrefix(line, ";") {
			continue
		}
		rr, err := dns.NewRR(line)
		if err != nil {
			e.t.Fatalf("keygen printed %q: %v", line, err)
		}
		txt := rr.(*dns.TXT)
		e.dns.Set(txt.Hdr.Name, dnstest.Record{Type: "TXT", Value: `"` + strings.Join(txt.Txt, `" "`) + `"`})
		return file
	}
	e.t.Fatalf("keygen printed no record:\n%s", out)
	return ""
}

// verifyDKIM checks msg's signatures against e's DNS with go-msgauth and
// returns how many there are and how many verify; it reports each failure.
func (e *env) verifyDKIM(msg []byte) (valid, all int) {
	e.t.Helper()
	res, err := resolver.New(resolver.Config{Servers: []string{e.dns.Addr}, Timeout: 2 * time.Second})
	if err != nil {
		e.t.Fatal(err)
	}
	vs, err := msgauth.VerifyWithOptions(bytes.NewReader(msg), &msgauth.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) { return res.LookupTXT(context.Background(), name) },
	})
	if err != nil {
		e.t.Fatalf("verify: %v", err)
	}
	for _, v := range vs {
		if v.Err != nil {
			e.t.Errorf("signature d=%s does not verify: %v", v.Domain, v.Err)
			continue
		}
		valid++
	}
	return valid, len(vs)
}

func TestDKIM_DeliveredMessageVerifies(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mx := e.mx("dest.example", 10, smtptest.Options{})
	keys := t.TempDir()
	rsaKey := e.keygen(keys, "sender.example", "rsa2026", "rsa-sha256")
	edKey := e.keygen(keys, "sender.example", "ed2026", "ed25519-sha256")
	r := e.newRelay(map[string]any{"dkim": map[string]any{"domains": map[string]any{
		"sender.example": map[string]any{
			"selector": "rsa2026", "private_key_file": rsaKey, "algorithm": "rsa-sha256",
			"keys": []any{map[string]any{"selector": "ed2026", "private_key_file": edKey}},
		},
	}}}).start()

	body := eightBitMessage("dkim")
	if _, err := r.send("bounces@envelope.example", []string{"someone@dest.example"}, body); err != nil {
		t.Fatal(err)
	}
	got := mx.WaitMessages(t, 1, 15*time.Second)[0].Data
	if !bytes.HasSuffix(got, []byte(body)) {
		t.Errorf("the message changed in transit:\n%q", got)
	}
	if n := bytes.Count(got, []byte("DKIM-Signature:")); n != 2 {
		t.Errorf("%d DKIM-Signature fields, want 2 (RSA and Ed25519):\n%s", n, got)
	}
	if valid, all := e.verifyDKIM(got); valid != 2 || all != 2 {
		t.Errorf("%d of %d signatures verify, want 2 of 2:\n%s", valid, all, got)
	}
	for _, want := range []string{"a=rsa-sha256", "a=ed25519-sha256", "d=sender.example", "c=relaxed/relaxed", "h=From:From:"} {
		if !bytes.Contains(got, []byte(want)) {
			t.Errorf("signatures lack %s:\n%s", want, got)
		}
	}
}

func TestDKIM_UnsignedWithoutKeyRefusedWhenRequired(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mx := e.mx("dest.example", 10, smtptest.Options{})
	key := e.keygen(t.TempDir(), "sender.example", "s1", "ed25519-sha256")
	domains := map[string]any{"sender.example": map[string]any{"selector": "s1", "private_key_file": key}}
	nokey := strings.ReplaceAll(message("nokey"), "sender.example", "nokey.example")

	lax := e.newRelay(map[string]any{"dkim": map[string]any{"domains": domains}}).start()
	if _, err := lax.send("app@nokey.example", []string{"u@dest.example"}, nokey); err != nil {
		t.Fatal(err)
	}
	got := mx.WaitMessages(t, 1, 15*time.Second)[0].Data
	if bytes.Contains(got, []byte("DKIM-Signature")) || !bytes.HasSuffix(got, []byte(nokey)) {
		t.Errorf("a domain without a key should go out unsigned and unchanged:\n%s", got)
	}

	strict := e.newRelay(map[string]any{"dkim": map[string]any{"require": true, "domains": domains}}).start()
	_, err := strict.send("app@nokey.example", []string{"u@dest.example"}, nokey)
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 550 || se.EnhancedCode != (smtp.EnhancedCode{5, 7, 1}) {
		t.Errorf("dkim.require, no key: %v; want 550 5.7.1", err)
	}
	if _, err := strict.send("app@sender.example", []string{"u@dest.example"}, message("haskey")); err != nil {
		t.Errorf("dkim.require, domain with a key: %v", err)
	}
	testwait.For(t, 15*time.Second, "the signed message", func() bool { return mx.MessageCount() == 2 })
	if valid, _ := e.verifyDKIM(mx.Messages()[1].Data); valid != 1 {
		t.Errorf("the required signature does not verify")
	}
}

func TestDKIM_SIGHUPReloadsKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mx := e.mx("dest.example", 10, smtptest.Options{})
	dir := t.TempDir()
	oldKey := e.keygen(dir, "sender.example", "old", "ed25519-sha256")
	newKey := e.keygen(dir, "sender.example", "new", "rsa-sha256")
	setKey := func(r *relay, selector, file string) {
		r.config["dkim"] = map[string]any{"domains": map[string]any{
			"sender.example": map[string]any{"selector": selector, "private_key_file": file}}}
		r.writeConfig()
	}
	r := e.newRelay(nil)
	setKey(r, "old", oldKey)
	r.start()
	sendAndCheck := func(marker, selector string) {
		t.Helper()
		if _, err := r.send("app@sender.example", []string{"u@dest.example"}, message(marker)); err != nil {
			t.Fatal(err)
		}
		var got []byte
		testwait.For(t, 15*time.Second, marker+" to arrive", func() bool {
			for _, m := range mx.Messages() {
				if bytes.Contains(m.Data, []byte("marker "+marker)) {
					got = m.Data
					return true
				}
			}
			return false
		})
		if !bytes.Contains(got, []byte(" s="+selector+";")) {
			t.Errorf("%s: want a signature by selector %s:\n%s", marker, selector, got)
		}
		if valid, _ := e.verifyDKIM(got); valid != 1 {
			t.Errorf("%s: the signature does not verify", marker)
		}
	}
	hup := func(wantLog string, n int) {
		t.Helper()
		r.cmd.Process.Signal(syscall.SIGHUP)
		testwait.For(t, 10*time.Second, "the reload log line", func() bool { return strings.Count(r.logs(), wantLog) >= n })
	}
	sendAndCheck("before", "old")

	setKey(r, "new", newKey)
	hup("reloaded on SIGHUP", 1)
	sendAndCheck("after", "new")

	missing := filepath.Join(dir, "gone.pem")
	setKey(r, "gone", missing)
	hup("reload on SIGHUP failed", 1)
	if !strings.Contains(r.logs(), "gone.pem") {
		t.Errorf("the reload failure does not name the key:\n%s", r.logs())
	}
	sendAndCheck("kept", "new")
	if r.cmd.ProcessState != nil {
		t.Fatal("SIGHUP ended the relay")
	}
}

func TestDKIM_MissingKeyStopsTheStart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	missing := filepath.Join(t.TempDir(), "missing.pem")
	r := e.newRelay(map[string]any{"dkim": map[string]any{"domains": map[string]any{
		"sender.example": map[string]any{"selector": "s1", "private_key_file": missing}}}})
	for _, args := range [][]string{{"serve"}, {"config", "check"}} {
		cmd := exec.Command(binary(t), append(args, "--config", r.configPath)...)
		cmd.Dir = r.dir
		done := make(chan struct{})
		var out []byte
		var err error
		go func() { out, err = cmd.CombinedOutput(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Fatalf("%v with a missing key did not exit", args)
		}
		if err == nil || !strings.Contains(string(out), "missing.pem") || !strings.Contains(string(out), "sender.example") {
			t.Errorf("%v with a missing key: %v\n%s", args, err, out)
		}
	}
	if _, err := os.Stat(filepath.Join(r.dir, "data")); err == nil {
		t.Error("the queue was opened before the keys were checked")
	}
}

func TestDKIM_BounceSignedWithTheHostnameKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.mxWithout("dest.example", "gone@dest.example")
	senderMX := e.mx("sender.example", 10, smtptest.Options{})
	key := e.keygen(t.TempDir(), "relay.e2e.invalid", "bounces", "ed25519-sha256") // the harness's hostname
	r := e.newRelay(map[string]any{"dkim": map[string]any{"require": true, "domains": map[string]any{
		"relay.e2e.invalid": map[string]any{"selector": "bounces", "private_key_file": key}}}}).start()

	// dkim.require: a message from sender.example (no key) would be refused,
	// so submit one signed as the relay's own domain.
	msg := strings.ReplaceAll(message("bounce-dkim"), "app@sender.example", "app@relay.e2e.invalid")
	if _, err := r.send("app@sender.example", []string{"gone@dest.example"}, msg); err != nil {
		t.Fatal(err)
	}
	got := senderMX.WaitMessages(t, 1, 20*time.Second)[0]
	if got.From != "" {
		t.Fatalf("want a bounce from <>, got MAIL FROM:<%s>", got.From)
	}
	if !bytes.Contains(got.Data, []byte("d=relay.e2e.invalid;")) || !bytes.Contains(got.Data, []byte("s=bounces;")) {
		t.Fatalf("the bounce is not signed with the hostname's key:\n%s", got.Data)
	}
	if valid, all := e.verifyDKIM(got.Data); valid != 1 || all != 1 {
		t.Errorf("%d of %d bounce signatures verify, want 1 of 1", valid, all)
	}
}
