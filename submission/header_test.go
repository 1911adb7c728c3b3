package submission

import (
	"crypto/tls"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestScanHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		msg  string
		want headerInfo
	}{
		{"empty", "", headerInfo{}},
		{"headers and body", "Subject: x\r\nMessage-ID: <a@b>\r\nDate: now\r\n\r\nbody\r\n", headerInfo{true, true, true}},
		{"case-insensitive names", "MESSAGE-id: <a@b>\r\ndate: now\r\n\r\n", headerInfo{true, true, true}},
		{"space before colon", "Message-ID : <a@b>\r\n\r\n", headerInfo{true, true, false}},
		{"folded field", "Subject: a\r\n b\r\n\tc\r\nDate: now\r\n\r\n", headerInfo{true, false, true}},
		{"headers only, no separator", "Subject: x\r\nDate: now", headerInfo{true, false, true}},
		{"empty header section", "\r\nMessage-ID: <in@body>\r\n", headerInfo{true, false, false}},
		{"all body", "Hello\r\nMessage-ID: <in@body>\r\n", headerInfo{}},
		{"starts with continuation", " Subject: x\r\n\r\n", headerInfo{}},
		{"starts with colon", ": x\r\n\r\n", headerInfo{}},
		{"field name with space", "Not A Header: x\r\n\r\n", headerInfo{}},
		{"fields in the body do not count", "Subject: x\r\n\r\nDate: later\r\nMessage-ID: <x@y>\r\n", headerInfo{true, false, false}},
		{"malformed line ends the header", "Subject: x\r\nnot a header\r\nDate: now\r\n\r\n", headerInfo{true, false, false}},
		{"Resent fields are other fields", "Resent-Message-ID: <a@b>\r\nResent-Date: now\r\n\r\n", headerInfo{true, false, false}},
		{"LF only", "Date: now\n\nbody", headerInfo{true, false, true}},
	}
	for _, tt := range tests {
		if got := scanHeader([]byte(tt.msg)); got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

var (
	tls13 = &stampTLS{Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256}
	tls12 = &stampTLS{Version: tls.VersionTLS12, CipherSuite: tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384}
)

// TestStampMessage compares against golden files; run with
// MXOUT_UPDATE_GOLDEN=1 to rewrite them after a deliberate change.
func TestStampFields(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 13, 4, 5, 0, time.FixedZone("", 3600))
	tests := []struct {
		name string
		in   string
		st   stamp
	}{
		{"plain-ipv4-one-rcpt", "Subject: hi\r\n\r\nbody\r\n", stamp{Helo: "client.example", IP: netip.MustParseAddr("192.0.2.7"), Rcpt: "b@example.com"}},
		{"tls-auth-ipv6-many-rcpts", "Subject: hi\r\nMessage-ID: <x@y>\r\nDate: Tue, 24 Nov 2026 10:00:00 +0000\r\n\r\nbody\r\n", stamp{Helo: "[IPv6:2001:db8::5]", IP: netip.MustParseAddr("2001:db8::5"), TLS: tls13, Auth: true}},
		{"all-body-hostile-helo", "no header here\r\n", stamp{Helo: "evil\r\nX-Injected: yes (x)", IP: netip.MustParseAddr("192.0.2.8"), TLS: tls12, Rcpt: "b@example.com"}},
		{"empty-message", "", stamp{IP: netip.MustParseAddr("192.0.2.9"), Auth: true, Rcpt: "b@example.com"}},
		{"received-header-auth", "Subject: hi\r\n\r\nbody\r\n", stamp{Helo: "client.example", IP: netip.MustParseAddr("192.0.2.10"), TLS: tls13, Auth: true, User: "app (ops)", Rcpt: "b@example.com"}},
		{"hide-client-ip", "Subject: hi\r\n\r\nbody\r\n", stamp{Helo: "laptop.example", IP: netip.MustParseAddr("192.0.2.11"), HideIP: true, TLS: tls13, Auth: true, Rcpt: "b@example.com"}},
		{"hide-client-ip-literal-helo", "Subject: hi\r\n\r\nbody\r\n", stamp{Helo: "[192.0.2.12]", IP: netip.MustParseAddr("192.0.2.12"), HideIP: true, Rcpt: "b@example.com"}},
	}
	for _, tt := range tests {
		tt.st.ID, tt.st.Hostname, tt.st.Now = "0123456789abcdefghij", "relay.example.net", now
		got := append(stampFields([]byte(tt.in), tt.st), tt.in...)
		if tt.st.HideIP && strings.Contains(string(got), tt.st.IP.String()) {
			t.Errorf("%s: client IP shown although hidden:\n%s", tt.name, got)
		}
		if !strings.HasSuffix(string(got), tt.in) {
			t.Errorf("%s: original not kept byte for byte at the end", tt.name)
		}
		if h := scanHeader(got); !h.HasHeader || !h.HasMessageID || !h.HasDate {
			t.Errorf("%s: stamped message header %+v", tt.name, h)
		}
		golden := filepath.Join("testdata", "stamp", tt.name+".golden")
		if os.Getenv("MXOUT_UPDATE_GOLDEN") != "" {
			if err := os.WriteFile(golden, got, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, want)
		}
	}
}
