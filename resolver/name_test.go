package resolver

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestNormalizeName(t *testing.T) {
	t.Parallel()
	label63 := strings.Repeat("a", 63)
	long := strings.Repeat(label63+".", 4)[:254] // 254 octets, ends in a label
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{in: "example.com", want: "example.com"},
		{in: "Example.COM.", want: "example.com"},
		{in: "_mta-sts.example.com", want: "_mta-sts.example.com"},
		{in: "xn--bcher-kva.example", want: "xn--bcher-kva.example"},
		{in: label63 + ".example", want: label63 + ".example"},
		{in: "localhost", want: "localhost"},
		{in: "", wantErr: true},
		{in: ".", wantErr: true},
		{in: "example..com", wantErr: true},
		{in: ".example.com", wantErr: true},
		{in: "example.com..", wantErr: true},
		{in: "a" + label63 + ".example", wantErr: true},
		{in: long, wantErr: true},
		{in: "exa mple.com", wantErr: true},
		{in: "exa\x00mple.com", wantErr: true},
		{in: "tab\t.example", wantErr: true},
		{in: "bücher.example", wantErr: true},
		{in: `esc\.aped.example`, wantErr: true},
		{in: "[127.0.0.1]", wantErr: true},
	}
	for _, tt := range tests {
		got, err := normalizeName(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("normalizeName(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

// FuzzNormalizeName checks that an accepted name is canonical, stable and
// packs as a DNS name.
func FuzzNormalizeName(f *testing.F) {
	for _, s := range []string{"example.com", "Example.COM.", "_mta-sts.x", "a..b", "", ".", "a\x00b", strings.Repeat("a.", 130)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := normalizeName(in)
		if err != nil {
			if out != "" {
				t.Fatalf("error %v with output %q", err, out)
			}
			return
		}
		if out != strings.ToLower(out) || strings.HasSuffix(out, ".") || len(out) > maxNameLen {
			t.Fatalf("normalizeName(%q) = %q: not canonical", in, out)
		}
		if !strings.EqualFold(strings.TrimSuffix(in, "."), out) {
			t.Fatalf("normalizeName(%q) = %q: changed more than case and the final dot", in, out)
		}
		if again, err := normalizeName(out); err != nil || again != out {
			t.Fatalf("not idempotent: %q -> %q, %v", out, again, err)
		}
		buf := make([]byte, 256)
		if _, err := dns.PackDomainName(dns.Fqdn(out), buf, 0, nil, false); err != nil {
			t.Fatalf("normalizeName(%q) = %q does not pack: %v", in, out, err)
		}
	})
}
