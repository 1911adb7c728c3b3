package resolver_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/mxout/mxout/resolver"
	"github.com/mxout/mxout/resolver/dnstest"
)

func TestLookupTXT(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("A", 300)
	srv := dnstest.NewServer(t, map[string][]dnstest.Record{
		"s1._domainkey.txt.example": {{Type: "TXT", Value: `"v=DKIM1; k=rsa; " "p=` + long[:250] + `" "` + long[250:] + `"`}},
		"two.txt.example":           {{Type: "TXT", Value: `"first"`}, {Type: "TXT", Value: `"second"`}},
		"alias.txt.example":         {{Type: "CNAME", Value: "two.txt.example."}},
		"nodata.txt.example":        {{Type: "A", Value: "127.0.0.1"}},
		"servfail.txt.example":      {{Type: "TXT", Value: `"x"`}},
	})
	srv.Fail("servfail.txt.example", "TXT", dns.RcodeServerFailure)
	r := newResolver(t, resolver.Config{}, srv.Addr)

	tests := []struct {
		name     string
		want     []string
		wantKind resolver.Kind
	}{
		{name: "s1._domainkey.TXT.example.", want: []string{"v=DKIM1; k=rsa; p=" + long}},
		{name: "two.txt.example", want: []string{"first", "second"}},
		{name: "alias.txt.example", want: []string{"first", "second"}},
		{name: "nodata.txt.example", wantKind: resolver.KindNoData},
		{name: "missing.txt.example", wantKind: resolver.KindNXDomain},
		{name: "servfail.txt.example", wantKind: resolver.KindServerFailure},
		{name: "bad name!", wantKind: resolver.KindInvalidName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := r.LookupTXT(context.Background(), tt.name)
			if tt.wantKind == 0 {
				if err != nil || !slices.Equal(got, tt.want) {
					t.Errorf("LookupTXT(%q) = %q, %v; want %q", tt.name, got, err, tt.want)
				}
				return
			}
			var e *resolver.Error
			if !errors.As(err, &e) || e.Kind != tt.wantKind || e.QType != "TXT" {
				t.Errorf("LookupTXT(%q) = %q, %v; want a TXT error of kind %v", tt.name, got, err, tt.wantKind)
			}
		})
	}
}
