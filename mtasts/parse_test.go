package mtasts

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParsePolicy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want *Policy // nil: invalid
	}{
		{"RFC example, CRLF", "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n",
			&Policy{Mode: Enforce, MX: []string{"mail.example.com", "*.example.net", "backupmx.example.com"}, MaxAge: 604800 * time.Second}},
		{"LF, any order, no final newline, spaces", "mode:testing\nmx:   MX.Example.COM.  \nmax_age: 86400\t\nversion: STSv1",
			&Policy{Mode: Testing, MX: []string{"mx.example.com"}, MaxAge: 86400 * time.Second}},
		{"unknown keys ignored, even twice", "version: STSv1\nmode: enforce\nfoo: bar\nfoo: baz\nmx: a.example\nmax_age: 1\n",
			&Policy{Mode: Enforce, MX: []string{"a.example"}, MaxAge: time.Second}},
		{"mode none needs no mx", "version: STSv1\nmode: none\nmax_age: 0\n", &Policy{Mode: None}},
		{"max_age capped at a year", "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 9999999999\n",
			&Policy{Mode: Enforce, MX: []string{"a.example"}, MaxAge: MaxAge}},
		{"blank lines", "\nversion: STSv1\n\nmode: enforce\nmx: a.example\nmax_age: 5\n\n",
			&Policy{Mode: Enforce, MX: []string{"a.example"}, MaxAge: 5 * time.Second}},
		{"no version", "mode: enforce\nmx: a.example\nmax_age: 5\n", nil},
		{"wrong version", "version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 5\n", nil},
		{"no mode", "version: STSv1\nmx: a.example\nmax_age: 5\n", nil},
		{"bad mode", "version: STSv1\nmode: Enforce\nmx: a.example\nmax_age: 5\n", nil},
		{"no max_age", "version: STSv1\nmode: enforce\nmx: a.example\n", nil},
		{"negative max_age", "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n", nil},
		{"max_age of 11 digits", "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 12345678901\n", nil},
		{"enforce without mx", "version: STSv1\nmode: enforce\nmax_age: 5\n", nil},
		{"mode twice", "version: STSv1\nmode: testing\nmode: enforce\nmx: a.example\nmax_age: 5\n", nil},
		{"line without colon", "version: STSv1\nmode enforce\nmx: a.example\nmax_age: 5\n", nil},
		{"wildcard in the middle", "version: STSv1\nmode: enforce\nmx: a.*.example\nmax_age: 5\n", nil},
		{"bare wildcard", "version: STSv1\nmode: enforce\nmx: *\nmax_age: 5\n", nil},
		{"double wildcard", "version: STSv1\nmode: enforce\nmx: *.*.example\nmax_age: 5\n", nil},
		{"empty label", "version: STSv1\nmode: enforce\nmx: a..example\nmax_age: 5\n", nil},
		{"too many mx", "version: STSv1\nmode: enforce\nmax_age: 5\n" + strings.Repeat("mx: a.example\n", maxMX+1), nil},
		{"too big", "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 5\n" + strings.Repeat("x: y\n", MaxPolicyBytes/5), nil},
	}
	for _, tt := range tests {
		got, err := ParsePolicy([]byte(tt.in))
		if tt.want == nil {
			if err == nil || !errors.Is(err, ErrPolicyInvalid) {
				t.Errorf("%s: ParsePolicy = %+v, %v; want ErrPolicyInvalid", tt.name, got, err)
			}
			continue
		}
		if err != nil || got.Mode != tt.want.Mode || got.MaxAge != tt.want.MaxAge || !slices.Equal(got.MX, tt.want.MX) {
			t.Errorf("%s: ParsePolicy = %+v, %v; want %+v", tt.name, got, err, tt.want)
			continue
		}
		// The canonical form parses back to the same policy.
		again, err := ParsePolicy([]byte(got.String()))
		if err != nil || again.Mode != got.Mode || again.MaxAge != got.MaxAge || !slices.Equal(again.MX, got.MX) {
			t.Errorf("%s: String() %q parses to %+v, %v", tt.name, got.String(), again, err)
		}
	}
}

func TestPickRecord(t *testing.T) {
	t.Parallel()
	tests := []struct {
		txts    []string
		wantID  string
		wantErr error
	}{
		{[]string{"v=STSv1; id=20160831085700Z;"}, "20160831085700Z", nil},
		{[]string{"v=STSv1;id=abc"}, "abc", nil},
		{[]string{"v=STSv1 ; id=abc ; ext=1"}, "abc", nil},
		{[]string{"v=spf1 -all", "v=STSv1; id=x1"}, "x1", nil},
		{[]string{"v=spf1 -all"}, "", ErrNoRecord},
		{nil, "", ErrNoRecord},
		{[]string{"v=STSv10; id=1"}, "", ErrNoRecord},
		{[]string{"v=STSv1; id=1", "v=STSv1; id=2"}, "", ErrRecordInvalid},
		{[]string{"v=STSv1;"}, "", ErrRecordInvalid},
		{[]string{"v=STSv1; id=" + strings.Repeat("a", 33)}, "", ErrRecordInvalid},
		{[]string{"v=STSv1; id=a-b"}, "", ErrRecordInvalid},
		{[]string{"v=STSv1; id=1; id=2"}, "", ErrRecordInvalid},
		{[]string{"v=STSv1;; id=1"}, "", ErrRecordInvalid},
		{[]string{"v=STSv1; id=1; bad field"}, "", ErrRecordInvalid},
		{[]string{"v=STSv1; id=1; x=a=b"}, "", ErrRecordInvalid},
	}
	for _, tt := range tests {
		rec, err := PickRecord(tt.txts)
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("PickRecord(%q) = %+v, %v; want %v", tt.txts, rec, err, tt.wantErr)
			}
			continue
		}
		if err != nil || rec.ID != tt.wantID {
			t.Errorf("PickRecord(%q) = %+v, %v; want id %q", tt.txts, rec, err, tt.wantID)
		}
	}
}

func TestMatches(t *testing.T) {
	t.Parallel()
	p := &Policy{Mode: Enforce, MX: []string{"mail.example.com", "*.example.net"}}
	tests := []struct {
		host string
		want bool
	}{
		{"mail.example.com", true},
		{"MAIL.Example.Com.", true},
		{"mail2.example.com", false},
		{"example.com", false},
		{"mx1.example.net", true},
		{"example.net", false},     // the wildcard needs a label
		{"a.b.example.net", false}, // one label only (RFC 8461 §4.1)
		{".example.net", false},    // an empty label is no label
		{"mx1.example.net.evil", false},
		{"mx1example.net", false},
	}
	for _, tt := range tests {
		if got := p.Matches(tt.host); got != tt.want {
			t.Errorf("Matches(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
}

func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n"))
	f.Add([]byte("version: STSv1\nmode: none\nmax_age: 0"))
	f.Add([]byte("mode:testing\nmx:a\nmax_age:1\nversion:STSv1\nx:y"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePolicy(b)
		if err != nil {
			if !errors.Is(err, ErrPolicyInvalid) {
				t.Fatalf("error %v does not wrap ErrPolicyInvalid", err)
			}
			return
		}
		if p.MaxAge < 0 || p.MaxAge > MaxAge || len(p.MX) > maxMX || (p.Mode != None && len(p.MX) == 0) {
			t.Fatalf("accepted an out-of-bounds policy %+v", p)
		}
		again, err := ParsePolicy([]byte(p.String()))
		if err != nil || again.String() != p.String() {
			t.Fatalf("String() %q does not parse back: %v", p.String(), err)
		}
		for _, mx := range p.MX {
			if host := strings.TrimPrefix(mx, "*."); mx == host && !p.Matches(host) {
				t.Fatalf("pattern %q does not match itself", mx)
			}
		}
	})
}

func FuzzPickRecord(f *testing.F) {
	f.Add("v=STSv1; id=20160831085700Z;")
	f.Add("v=STSv1 ; id=abc ; ext=1")
	f.Add("v=STSv1;; id=1")
	f.Fuzz(func(t *testing.T, txt string) {
		rec, err := PickRecord([]string{txt})
		if err != nil {
			if !errors.Is(err, ErrNoRecord) && !errors.Is(err, ErrRecordInvalid) {
				t.Fatalf("error %v is neither ErrNoRecord nor ErrRecordInvalid", err)
			}
			return
		}
		if !isID(rec.ID) {
			t.Fatalf("accepted id %q", rec.ID)
		}
	})
}
