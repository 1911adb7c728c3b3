package dane_test

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/mxout/mxout/dane"
	"github.com/mxout/mxout/internal/testcert"
	"github.com/mxout/mxout/resolver"
)

// rec makes a TLSA record for cert.
func rec(usage, selector, mtype uint8, cert *x509.Certificate) resolver.TLSA {
	data := cert.Raw
	if selector == dane.SelectorSPKI {
		data = cert.RawSubjectPublicKeyInfo
	}
	switch mtype {
	case dane.MatchSHA256:
		s := sha256.Sum256(data)
		data = s[:]
	case dane.MatchSHA512:
		s := sha512.Sum512(data)
		data = s[:]
	}
	return resolver.TLSA{Usage: usage, Selector: selector, MatchingType: mtype, Data: data}
}

func must(p *testcert.Pair, err error) *testcert.Pair {
	if err != nil {
		panic(err)
	}
	return p
}

func chainOf(p *testcert.Pair) []*x509.Certificate {
	var out []*x509.Certificate
	for _, der := range p.TLS.Certificate {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			panic(err)
		}
		out = append(out, c)
	}
	return out
}

func TestVerify(t *testing.T) {
	t.Parallel()
	root := must(testcert.New("DANE test root"))
	inter := must(root.IssueCA("DANE test intermediate"))
	leaf := must(inter.Issue("mx.dane.example", "mx.dane.example")) // chain: leaf, inter, root
	expired := must(inter.IssueExpired("mx.dane.example", "mx.dane.example"))
	selfSigned := must(testcert.New("mx.dane.example")) // no DNS names at all
	otherRoot := must(testcert.New("another root"))
	now := time.Now()
	names := []string{"mx.dane.example"}
	full := chainOf(leaf)
	noRoot := full[:2] // servers often leave the root out

	tests := []struct {
		name  string
		recs  []resolver.TLSA
		chain []*x509.Certificate
		names []string
		want  dane.Reason // 0: verified
	}{
		// DANE-EE, every selector and matching type, on a self-signed,
		// nameless certificate, and on an expired one.
		{"3 0 0", []resolver.TLSA{rec(3, 0, 0, selfSigned.TLS.Leaf)}, chainOf(selfSigned), names, 0},
		{"3 0 1", []resolver.TLSA{rec(3, 0, 1, selfSigned.TLS.Leaf)}, chainOf(selfSigned), names, 0},
		{"3 0 2", []resolver.TLSA{rec(3, 0, 2, selfSigned.TLS.Leaf)}, chainOf(selfSigned), names, 0},
		{"3 1 0", []resolver.TLSA{rec(3, 1, 0, selfSigned.TLS.Leaf)}, chainOf(selfSigned), names, 0},
		{"3 1 1", []resolver.TLSA{rec(3, 1, 1, selfSigned.TLS.Leaf)}, chainOf(selfSigned), names, 0},
		{"3 1 2", []resolver.TLSA{rec(3, 1, 2, selfSigned.TLS.Leaf)}, chainOf(selfSigned), names, 0},
		{"3 1 1 ignores names", []resolver.TLSA{rec(3, 1, 1, leaf.TLS.Leaf)}, full, []string{"other.example"}, 0},
		{"3 1 1 ignores dates", []resolver.TLSA{rec(3, 1, 1, expired.TLS.Leaf)}, chainOf(expired), names, 0},
		{"3 1 1 mismatch", []resolver.TLSA{rec(3, 1, 1, leaf.TLS.Leaf)}, chainOf(selfSigned), names, dane.NoMatch},
		{"3 0 1 mismatch", []resolver.TLSA{rec(3, 0, 1, selfSigned.TLS.Leaf)}, full, names, dane.NoMatch},
		{"3 1 1 of the CA does not match the server", []resolver.TLSA{rec(3, 1, 1, inter.TLS.Leaf)}, full, names, dane.NoMatch},

		// DANE-TA: the anchor in the chain, by certificate or key.
		{"2 0 1 root", []resolver.TLSA{rec(2, 0, 1, root.TLS.Leaf)}, full, names, 0},
		{"2 1 1 intermediate", []resolver.TLSA{rec(2, 1, 1, inter.TLS.Leaf)}, full, names, 0},
		{"2 1 2 intermediate, root left out", []resolver.TLSA{rec(2, 1, 2, inter.TLS.Leaf)}, noRoot, names, 0},
		{"2 0 0 root", []resolver.TLSA{rec(2, 0, 0, root.TLS.Leaf)}, full, names, 0},
		{"2 1 0 root key, root left out", []resolver.TLSA{rec(2, 1, 0, root.TLS.Leaf)}, noRoot, names, 0},
		{"2 1 1 root left out", []resolver.TLSA{rec(2, 1, 1, root.TLS.Leaf)}, noRoot, names, dane.NoMatch},
		{"2 0 1 another root", []resolver.TLSA{rec(2, 0, 1, otherRoot.TLS.Leaf)}, full, names, dane.NoMatch},
		{"2 0 1 wrong name", []resolver.TLSA{rec(2, 0, 1, root.TLS.Leaf)}, full, []string{"mx2.dane.example"}, dane.NameMismatch},
		{"2 0 1 second name", []resolver.TLSA{rec(2, 0, 1, root.TLS.Leaf)}, full, []string{"alias.dane.example", "MX.dane.example."}, 0},
		{"2 0 1 expired", []resolver.TLSA{rec(2, 0, 1, root.TLS.Leaf)}, chainOf(expired), names, dane.Expired},
		{"2 x x matching only the server's own certificate", []resolver.TLSA{rec(2, 0, 1, selfSigned.TLS.Leaf)}, chainOf(selfSigned), names, dane.NoMatch},
		{"2 1 1 with a chain out of order", []resolver.TLSA{rec(2, 1, 1, root.TLS.Leaf)}, []*x509.Certificate{full[0], full[2], full[1]}, names, 0},

		// Records SMTP does not use.
		{"PKIX-TA and PKIX-EE ignored", []resolver.TLSA{rec(0, 0, 1, root.TLS.Leaf), rec(1, 1, 1, leaf.TLS.Leaf)}, full, names, dane.NoUsableRecords},
		{"bad selector", []resolver.TLSA{{Usage: 3, Selector: 2, MatchingType: 1, Data: make([]byte, 32)}}, full, names, dane.NoUsableRecords},
		{"bad matching type", []resolver.TLSA{{Usage: 3, Selector: 1, MatchingType: 3, Data: make([]byte, 32)}}, full, names, dane.NoUsableRecords},
		{"short digest", []resolver.TLSA{{Usage: 3, Selector: 1, MatchingType: 1, Data: make([]byte, 31)}}, full, names, dane.NoUsableRecords},
		{"empty full data", []resolver.TLSA{{Usage: 3, Selector: 1, MatchingType: 0}}, full, names, dane.NoUsableRecords},
		{"no records", nil, full, names, dane.NoUsableRecords},
		{"unusable beside a match", []resolver.TLSA{rec(1, 1, 1, leaf.TLS.Leaf), {Usage: 3, Selector: 9}, rec(3, 1, 1, leaf.TLS.Leaf)}, full, names, 0},
		{"one of several matches", []resolver.TLSA{rec(3, 1, 1, selfSigned.TLS.Leaf), rec(2, 0, 1, root.TLS.Leaf)}, full, names, 0},
		{"no certificate", []resolver.TLSA{rec(3, 1, 1, leaf.TLS.Leaf)}, nil, names, dane.NoCertificate},
	}
	for _, tt := range tests {
		err := dane.Verify(tt.recs, tt.chain, tt.names, now)
		if tt.want == 0 {
			if err != nil {
				t.Errorf("%s: Verify = %v, want a match", tt.name, err)
			}
			continue
		}
		var de *dane.Error
		if !errors.As(err, &de) || de.Reason != tt.want {
			t.Errorf("%s: Verify = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestUsable(t *testing.T) {
	t.Parallel()
	recs := []resolver.TLSA{
		{Usage: 3, Selector: 1, MatchingType: 1, Data: make([]byte, 32)},
		{Usage: 2, Selector: 0, MatchingType: 2, Data: make([]byte, 64)},
		{Usage: 3, Selector: 1, MatchingType: 2, Data: make([]byte, 32)}, // SHA-512 of the wrong length
		{Usage: 1, Selector: 1, MatchingType: 1, Data: make([]byte, 32)},
		{Usage: 4, Selector: 1, MatchingType: 1, Data: make([]byte, 32)},
	}
	if got := dane.Usable(recs); len(got) != 2 || got[0].Usage != 3 || got[1].Usage != 2 {
		t.Errorf("Usable = %v, want the first two", got)
	}
}
