package tlsrpt

import (
	"errors"
	"strings"
	"testing"
)

func TestPickRecord(t *testing.T) {
	t.Parallel()
	tests := []struct {
		txts    []string
		want    []string // the RUA URIs
		wantErr error
	}{
		{[]string{"v=TLSRPTv1; rua=mailto:reports@example.com"}, []string{"mailto:reports@example.com"}, nil},
		{[]string{"v=TLSRPTv1;rua=https://reporting.example.com/v1/tlsrpt;"}, []string{"https://reporting.example.com/v1/tlsrpt"}, nil},
		{[]string{"v=TLSRPTv1 ; rua=mailto:a@x.example, https://r.example/p ,mailto:b@y.example ; ext=1"},
			[]string{"mailto:a@x.example", "https://r.example/p", "mailto:b@y.example"}, nil},
		{[]string{"v=TLSRPTv1; rua=ftp://x.example/,mailto:a@x.example"}, []string{"mailto:a@x.example"}, nil},
		{[]string{"v=TLSRPTv1; rua=MAILTO:a@x.example"}, []string{"mailto:a@x.example"}, nil},
		{[]string{"v=spf1 -all", "v=TLSRPTv1; rua=mailto:a@x.example"}, []string{"mailto:a@x.example"}, nil},
		{[]string{"v=spf1 -all"}, nil, ErrNoRecord},
		{nil, nil, ErrNoRecord},
		{[]string{"v=TLSRPTv10; rua=mailto:a@x.example"}, nil, ErrNoRecord},
		{[]string{"v=TLSRPTv1; rua=mailto:a@x.example", "v=TLSRPTv1; rua=mailto:b@x.example"}, nil, ErrRecordInvalid},
		{[]string{"v=TLSRPTv1"}, nil, ErrRecordInvalid},
		{[]string{"v=TLSRPTv1; rua=ftp://x.example/"}, nil, ErrRecordInvalid},
		{[]string{"v=TLSRPTv1; rua=mailto:nobody"}, nil, ErrRecordInvalid},
		{[]string{"v=TLSRPTv1; rua=mailto:a@b@c.example"}, nil, ErrRecordInvalid},
		{[]string{"v=TLSRPTv1; rua=https:///nohost"}, nil, ErrRecordInvalid},
		{[]string{"v=TLSRPTv1; rua=https://user:pw@r.example/"}, nil, ErrRecordInvalid},
		{[]string{"v=TLSRPTv1; rua=mailto:a@x.example; rua=mailto:b@x.example"}, nil, ErrRecordInvalid},
		{[]string{"v=TLSRPTv1;; rua=mailto:a@x.example"}, nil, ErrRecordInvalid},
		{[]string{"v=TLSRPTv1; ruamailto:a@x.example"}, nil, ErrRecordInvalid},
	}
	for _, tt := range tests {
		rec, err := PickRecord(tt.txts)
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("PickRecord(%q) = %v, %v; want %v", tt.txts, rec.RUA, err, tt.wantErr)
			}
			continue
		}
		var got []string
		for _, u := range rec.RUA {
			got = append(got, u.String())
		}
		if err != nil || strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("PickRecord(%q) = %q, %v; want %q", tt.txts, got, err, tt.want)
		}
	}
	many := "v=TLSRPTv1; rua=" + strings.Repeat("mailto:a@x.example,", 50)
	if rec, err := ParseRecord(many); err != nil || len(rec.RUA) != maxRUA {
		t.Errorf("a record with 50 addresses gave %d, %v; want the first %d", len(rec.RUA), err, maxRUA)
	}
}

func FuzzPickRecord(f *testing.F) {
	f.Add("v=TLSRPTv1; rua=mailto:reports@example.com")
	f.Add("v=TLSRPTv1 ; rua=mailto:a@x.example, https://r.example/p ; ext=1;")
	f.Add("v=TLSRPTv1; rua=https://user:pw@r.example/")
	f.Fuzz(func(t *testing.T, txt string) {
		rec, err := PickRecord([]string{txt})
		if err != nil {
			if !errors.Is(err, ErrNoRecord) && !errors.Is(err, ErrRecordInvalid) {
				t.Fatalf("error %v is neither ErrNoRecord nor ErrRecordInvalid", err)
			}
			return
		}
		if len(rec.RUA) == 0 || len(rec.RUA) > maxRUA {
			t.Fatalf("accepted %d addresses", len(rec.RUA))
		}
		for _, u := range rec.RUA {
			switch u.Scheme {
			case "mailto":
				if a := mailtoAddr(u); strings.ContainsAny(a, "\r\n,<> ") || strings.Count(a, "@") != 1 {
					t.Fatalf("accepted mailto address %q", a)
				}
			case "https":
				if u.Host == "" || u.User != nil {
					t.Fatalf("accepted https address %v", u)
				}
			default:
				t.Fatalf("accepted scheme %q", u.Scheme)
			}
		}
	})
}
