package dkim_test

import (
	"context"
	"crypto/ed25519"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/mxout/mxout/dkim"
)

func TestRecord_ZoneEntryIsExactAndSplit(t *testing.T) {
	t.Parallel()
	for _, file := range []string{rsaFile, edFile} {
		k := loadKey(t, file, "s1")
		rec, err := dkim.NewRecord(k.Signer.Public())
		if err != nil {
			t.Fatal(err)
		}
		entry := dkim.ZoneEntry(dkim.RecordName("s1", "example.com."), rec)
		if !strings.HasPrefix(entry, "s1._domainkey.example.com. IN TXT (") {
			t.Errorf("zone entry %q", entry)
		}
		rr, err := dns.NewRR(entry)
		if err != nil {
			t.Fatalf("the zone entry does not parse as a zone file line: %v\n%s", err, entry)
		}
		txt := rr.(*dns.TXT).Txt
		for _, s := range txt {
			if len(s) > 255 {
				t.Errorf("a TXT string of %d octets", len(s))
			}
		}
		joined := strings.Join(txt, "")
		if joined != rec.String() {
			t.Errorf("joined strings %q, want %q", joined, rec.String())
		}
		back, err := dkim.ParseRecord(joined)
		if err != nil || !back.Matches(k.Signer.Public()) {
			t.Errorf("the record does not parse back to the key: %v", err)
		}
		if file == rsaFile && len(txt) < 2 {
			t.Errorf("a 2048-bit RSA record fits one string? %d strings", len(txt))
		}
	}
}

func TestParseRecord(t *testing.T) {
	t.Parallel()
	ed := loadKey(t, edFile, "s").Signer.Public().(ed25519.PublicKey)
	edRec, _ := dkim.NewRecord(ed)
	p := strings.TrimPrefix(edRec.String(), "v=DKIM1; k=ed25519; ")
	tests := []struct {
		name    string
		in      string
		match   bool   // the record publishes ed
		testing bool   // t=y
		wantErr string // non-empty: ParseRecord fails with this
	}{
		{name: "as written", in: edRec.String(), match: true},
		{name: "no v=, folded p=", in: "k=ed25519;\r\n\t p = " + p[2:20] + " \t" + p[20:] + " ;", match: true},
		{name: "testing flag and unknown tags", in: "v=DKIM1; k=ed25519; t=y:s; n=notes; x_new=1; " + p, match: true, testing: true},
		{name: "revoked", in: "v=DKIM1; k=ed25519; p="},
		{name: "other key", in: "v=DKIM1; k=ed25519; p=" + strings.Repeat("A", 43) + "="},
		{name: "rsa type for an ed25519 key", in: "v=DKIM1; k=rsa; " + p},
		{name: "v= not first", in: "k=ed25519; v=DKIM1; " + p, wantErr: "v="},
		{name: "wrong version", in: "v=DKIM2; " + p, wantErr: "v="},
		{name: "no p=", in: "v=DKIM1; k=rsa", wantErr: "no p="},
		{name: "duplicate tag", in: "k=rsa; k=ed25519; " + p, wantErr: "twice"},
		{name: "bad base64", in: "p=!!!", wantErr: "base64"},
		{name: "tag without =", in: "v=DKIM1; garbage; " + p, wantErr: "malformed"},
		{name: "bad tag name", in: "1x=2; " + p, wantErr: "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec, err := dkim.ParseRecord(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("ParseRecord(%q) = %v; want an error with %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRecord(%q): %v", tt.in, err)
			}
			if rec.Matches(ed) != tt.match || rec.Testing() != tt.testing {
				t.Errorf("ParseRecord(%q): matches %v testing %v; want %v %v", tt.in, rec.Matches(ed), rec.Testing(), tt.match, tt.testing)
			}
		})
	}
}

func TestSplitTXT(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 255, 256, 510, 511, 800} {
		s := strings.Repeat("x", n)
		parts := dkim.SplitTXT(s)
		if strings.Join(parts, "") != s || len(parts) != max(1, (n+254)/255) {
			t.Errorf("SplitTXT of %d octets: %d parts", n, len(parts))
		}
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	w := newDNS(t)
	rsaKey := loadKey(t, rsaFile, "good")
	w.publish(t, "check.example", rsaKey)
	w.publish(t, "check.example", loadKey(t, edFile, "ed"))
	w.publish(t, "check.example", loadKey(t, rsaFileB, "stale")) // another key under the selector
	w.publishValue(dkim.RecordName("revoked", "check.example"), "v=DKIM1; k=rsa; p=")
	w.publishValue(dkim.RecordName("junk", "check.example"), "v=DKIM1; p=%%%")
	w.srv.Set(dkim.RecordName("twice", "check.example"),
		txtRecord("v=DKIM1; p=AAAA"), txtRecord("v=DKIM1; p=BBBB"))
	w.publishValue(dkim.RecordName("sha1only", "check.example"), "v=DKIM1; k=rsa; h=sha1; "+
		strings.TrimPrefix(mustRecord(t, rsaKey).String(), "v=DKIM1; k=rsa; "))

	tests := []struct {
		selector, file string
		wantErr        string // "" means OK
	}{
		{selector: "good", file: rsaFile},
		{selector: "ed", file: edFile},
		{selector: "stale", file: rsaFile, wantErr: "not the public half of " + rsaFile},
		{selector: "missing", file: rsaFile, wantErr: "not published"},
		{selector: "revoked", file: rsaFile, wantErr: "revoked"},
		{selector: "junk", file: rsaFile, wantErr: "does not parse"},
		{selector: "twice", file: rsaFile, wantErr: "2 TXT records"},
		{selector: "sha1only", file: rsaFile, wantErr: "does not verify"},
	}
	for _, tt := range tests {
		t.Run(tt.selector, func(t *testing.T) {
			t.Parallel()
			res := dkim.Check(context.Background(), w.lookup, "Check.Example", loadKey(t, tt.file, tt.selector))
			if res.Name != tt.selector+"._domainkey.check.example" {
				t.Errorf("looked up %s", res.Name)
			}
			if tt.wantErr == "" {
				if !res.OK() {
					t.Errorf("Check: %v", res.Err)
				}
				return
			}
			if res.OK() || !strings.Contains(res.Err.Error(), tt.wantErr) {
				t.Errorf("Check = %v; want an error with %q", res.Err, tt.wantErr)
			}
		})
	}
}

func mustRecord(t *testing.T, k *dkim.Key) dkim.Record {
	t.Helper()
	r, err := dkim.NewRecord(k.Signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	return r
}
