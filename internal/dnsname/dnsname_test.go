package dnsname

import (
	"strings"
	"testing"
)

func TestValid(t *testing.T) {
	t.Parallel()
	label63 := strings.Repeat("a", 63)
	name253 := strings.Repeat(label63+".", 3) + strings.Repeat("b", 61)
	tests := []struct {
		in   string
		want bool
	}{
		{"example.com", true},
		{"Mail-1.EXAMPLE.com", true},
		{"_dmarc.example", true},
		{"xn--bcher-kva.example", true},
		{"localhost", true},
		{label63 + ".example", true},
		{name253, true},
		{name253 + "b", false},
		{label63 + "a.example", false},
		{"", false},
		{"example.com.", false},
		{".example.com", false},
		{"a..b", false},
		{"*.example.com", false},
		{"exa mple.com", false},
		{"bücher.example", false},
	}
	for _, tt := range tests {
		if got := Valid(tt.in); got != tt.want {
			t.Errorf("Valid(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
