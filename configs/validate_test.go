package configs

import (
	"strings"
	"testing"
)

// isDomainName is stricter than IsDNSName: lowercase only, no '-' at
// either end of a label, no final dot (keys of delivery.domains and
// metrics.domains, which are compared as written).
func TestIsDomainName(t *testing.T) {
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"example.com", true},
		{"mx_1.example-2.com", true},
		{"com", true},
		{"xn--bcher-kva.example", true},
		{strings.Repeat("a", 63) + ".example", true},
		{strings.Repeat("a.", 126) + "a", true}, // 253 octets
		{"", false},
		{"Example.com", false},
		{"example.com.", false},
		{".example.com", false},
		{"a..example", false},
		{"-a.example", false},
		{"a-.example", false},
		{"exa mple.com", false},
		{"bücher.example", false},
		{strings.Repeat("a", 64) + ".example", false},
		{strings.Repeat("a.", 127), false},
		{strings.Repeat("a.", 126) + "ab", false}, // 254 octets
	} {
		if got := isDomainName(c.name); got != c.ok {
			t.Errorf("isDomainName(%q) = %v, want %v", c.name, got, c.ok)
		}
	}
}
