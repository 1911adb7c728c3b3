package submission

import (
	"strings"
	"testing"
)

func TestCheckAddress(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 60) + ".example"
	tests := []struct {
		addr string
		utf8 bool
		want error
	}{
		{addr: "a@example.com"},
		{addr: "first.last+tag@sub.example.co.uk"},
		{addr: "!#$%&'*+-/=?^_`{|}~@example.com"},
		{addr: "a@[192.0.2.1]"},
		{addr: "a@[IPv6:2001:db8::1]"},
		{addr: "a@[ipv6:::1]"},
		{addr: "a@xn--bcher-kva.example"},
		{addr: "jöran@exämple.org", utf8: true},
		{addr: "用户@例子.广告", utf8: true},
		{addr: strings.Repeat("a", 64) + "@example.com"},

		{addr: "jöran@example.org", want: errAddressUTF8},
		{addr: "a@exämple.org", want: errAddressUTF8},

		{addr: "", want: errAddressSyntax},
		{addr: "a", want: errAddressSyntax},
		{addr: "@example.com", want: errAddressSyntax},
		{addr: "a@", want: errAddressSyntax},
		{addr: "a@localhost", want: errAddressSyntax},
		{addr: "a@example.com.", want: errAddressSyntax},
		{addr: "a@.example.com", want: errAddressSyntax},
		{addr: "a@example..com", want: errAddressSyntax},
		{addr: "a@-example.com", want: errAddressSyntax},
		{addr: "a@example-.com", want: errAddressSyntax},
		{addr: "a@exa_mple.com", want: errAddressSyntax},
		{addr: "a b@example.com", want: errAddressSyntax},
		{addr: "a\tb@example.com", want: errAddressSyntax},
		{addr: "a\r\nb@example.com", want: errAddressSyntax},
		{addr: "a\x00@example.com", want: errAddressSyntax},
		{addr: "a\x7f@example.com", want: errAddressSyntax},
		{addr: ".a@example.com", want: errAddressSyntax},
		{addr: "a.@example.com", want: errAddressSyntax},
		{addr: "a..b@example.com", want: errAddressSyntax},
		{addr: "a\"b@example.com", want: errAddressSyntax},
		{addr: "a(b)@example.com", want: errAddressSyntax},
		{addr: "a@b@example.com", want: errAddressSyntax},
		{addr: strings.Repeat("a", 65) + "@example.com", want: errAddressSyntax},
		{addr: "a@" + strings.Repeat("b", 64) + ".com", want: errAddressSyntax},
		{addr: long, want: errAddressSyntax},
		{addr: "a@[192.0.2.256]", want: errAddressSyntax},
		{addr: "a@[2001:db8::1]", want: errAddressSyntax},
		{addr: "a@[IPv6:192.0.2.1]", want: errAddressSyntax},
		{addr: "a@[IPv6:fe80::1%eth0]", want: errAddressSyntax},
		{addr: "a@[192.0.2.1", want: errAddressSyntax},
		{addr: "a@[]", want: errAddressSyntax},
		{addr: "\xff@example.com", utf8: true, want: errAddressSyntax},
		{addr: "a\u0085@example.com", utf8: true, want: errAddressSyntax},
	}
	for _, tt := range tests {
		if got := checkAddress(tt.addr, tt.utf8); got != tt.want {
			t.Errorf("checkAddress(%q, utf8=%v) = %v, want %v", tt.addr, tt.utf8, got, tt.want)
		}
	}
	if len(long) <= maxAddressLen {
		t.Fatalf("test address is only %d octets", len(long))
	}
}
