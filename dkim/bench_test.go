package dkim_test

import (
	"strings"
	"testing"

	"github.com/mxout/mxout/dkim"
)

// BenchmarkSign measures signing a 10 KB message: the cost added to every
// accepted message of a signing domain.
func BenchmarkSign(b *testing.B) {
	msg := []byte(strings.Replace(plainMessage, "Hello.\r\n", strings.Repeat("0123456789 abcdefghij klmnopqrstuvwxyz 0123456789 ABCDEFGHIJ KLMNOPQRSTUVWXYZ\r\n", 128), 1))
	for _, bc := range []struct {
		name  string
		files []string
	}{
		{"rsa2048", []string{rsaFile}},
		{"ed25519", []string{edFile}},
		{"rsa2048+ed25519", []string{rsaFile, edFile}},
		{"no key for the domain", nil},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var keys []dkim.KeyConfig
			for i, f := range bc.files {
				keys = append(keys, dkim.KeyConfig{Selector: "s" + string(rune('a'+i)), PrivateKeyFile: f})
			}
			domain := "sender.example"
			if keys == nil {
				domain, keys = "other.example", []dkim.KeyConfig{{Selector: "s", PrivateKeyFile: edFile}}
			}
			s, err := dkim.New(dkim.Config{Domains: []dkim.DomainConfig{{Domain: domain, Keys: keys, Headers: defaultHeaders()}}})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Sign(msg, "", nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
