package submission

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/internal/testcert"
)

// writeCert writes a fresh self-signed certificate for localhost with
// the given common name to dir/cert.pem and dir/key.pem, replacing the
// files (by rename, as certificate tools do).
func writeCert(t *testing.T, dir, cn string) {
	t.Helper()
	testcert.WriteNew(t, dir, cn, "localhost", "127.0.0.1")
}

// newCertStore writes a certificate named "first" into a new directory
// and loads it; it returns the store and the directory.
func newCertStore(t *testing.T) (*CertStore, string) {
	t.Helper()
	dir := t.TempDir()
	writeCert(t, dir, "first")
	cs, err := NewCertStore(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return cs, dir
}

func TestCertStore_ReloadKeepsOldOnFailure(t *testing.T) {
	t.Parallel()
	cs, dir := newCertStore(t)
	if cs.Leaf().Subject.CommonName != "first" || cs.Changed() {
		t.Fatalf("loaded %q, changed %v", cs.Leaf().Subject.CommonName, cs.Changed())
	}
	if cfg := cs.TLSConfig(); cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion %x, want TLS 1.2", cfg.MinVersion)
	}

	writeCert(t, dir, "second")
	if !cs.Changed() {
		t.Error("new files not seen as changed")
	}
	if err := cs.Reload(); err != nil {
		t.Fatal(err)
	}
	if cs.Leaf().Subject.CommonName != "second" || cs.Changed() {
		t.Errorf("after reload: %q, changed %v", cs.Leaf().Subject.CommonName, cs.Changed())
	}

	// A key that does not match (half-written update), then a missing key.
	os.WriteFile(filepath.Join(dir, "key.pem"), []byte("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n"), 0o600)
	if err := cs.Reload(); err == nil {
		t.Error("broken key accepted")
	}
	os.Remove(filepath.Join(dir, "key.pem"))
	if !cs.Changed() {
		t.Error("a removed file is a change")
	}
	if err := cs.Reload(); err == nil {
		t.Error("missing key accepted")
	}
	if cs.Changed() {
		t.Error("a failed reload is retried before the files change again")
	}
	if cs.Leaf().Subject.CommonName != "second" {
		t.Errorf("serving %q after failed reloads, want the last good one", cs.Leaf().Subject.CommonName)
	}
	if _, err := NewCertStore(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")); err == nil {
		t.Error("NewCertStore without a key succeeded")
	}
}

// A reload serves the new certificate to new connections while a session
// that started before it goes on, over STARTTLS and implicit TLS.
func TestCertStore_ReloadWithSessionOpen(t *testing.T) {
	t.Parallel()
	for _, mode := range []configs.TLSMode{configs.TLSStartTLS, configs.TLSImplicit} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			cs, dir := newCertStore(t)
			cfg := testConfig()
			cfg.TLSConfig = cs.TLSConfig()
			fq := &fakeQueue{}
			h := start(t, cfg, fq, mode)
			client := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} // the test checks the name itself

			dial := func() (*rawConn, string) {
				var rc *rawConn
				var tc *tls.Conn
				if mode == configs.TLSImplicit {
					rc = dialRawFrom(t, h.addr, "")
					tc = rc.handshake(client)
					rc.expect("220 ")
				} else {
					rc = dialRaw(t, h.addr)
					rc.must("EHLO client.example", "250")
					tc = rc.startTLS(client)
				}
				rc.must("EHLO client.example", "250")
				return rc, tc.ConnectionState().PeerCertificates[0].Subject.CommonName
			}
			old, cn := dial()
			if cn != "first" {
				t.Fatalf("served %q", cn)
			}
			writeCert(t, dir, "second")
			if err := cs.Reload(); err != nil {
				t.Fatal(err)
			}
			if _, cn := dial(); cn != "second" {
				t.Errorf("new connection got %q after reload", cn)
			}
			queuedID(t, old.send("a@example.org", []string{"b@example.com"}, dotEnd(message("Subject: x", "", "y"))))
		})
	}
}

func TestCertStore_RefusesOldTLS(t *testing.T) {
	t.Parallel()
	cs, _ := newCertStore(t)
	cfg := testConfig()
	cfg.TLSConfig = cs.TLSConfig()
	h := start(t, cfg, &fakeQueue{}, configs.TLSImplicit)
	rc := dialRawFrom(t, h.addr, "")
	tc := tls.Client(rc.c, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
	err := tc.Handshake()
	if err == nil {
		t.Fatalf("TLS 1.1 handshake succeeded (version %x)", tc.ConnectionState().Version)
	}
	// The server's refusal, not a client-side one.
	if !strings.Contains(err.Error(), "protocol version not supported") {
		t.Errorf("handshake error %v, want the server's protocol_version alert", err)
	}
}
