package dkim_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mxout/mxout/dkim"
	"github.com/mxout/mxout/metrics"
)

// Every signing decision is counted in mxout_dkim_signatures_total, by
// signing domain within metrics.domains (else other) and result; a relay
// without keys counts nothing.
func TestSigner_CountsDecisions(t *testing.T) {
	t.Parallel()
	m := metrics.NewWithOptions(prometheus.NewRegistry(), metrics.Options{Domains: []string{"sender.example"}})
	s, err := dkim.New(dkim.Config{
		Domains:  []dkim.DomainConfig{domainConfig("sender.example", dkim.KeyConfig{Selector: "s1", PrivateKeyFile: edFile})},
		Observer: m,
	})
	if err != nil {
		t.Fatal(err)
	}
	from := func(addr string) []byte { return []byte("From: <" + addr + ">\r\nSubject: x\r\n\r\nbody\r\n") }
	s.Sign(from("a@sender.example"), "", nil)
	s.Sign(from("b@sender.example"), "", nil)
	s.Sign(from("a@elsewhere.example"), "", nil)
	s.Sign(from("a@sender.example"), "", func(string) bool { return false })
	s.SignDomain("sender.example", from("MAILER-DAEMON@sender.example"))
	s.Sign([]byte(" folded first line\r\nFrom: <a@sender.example>\r\n\r\nx\r\n"), "a@sender.example", nil)
	for _, tt := range []struct {
		domain, result string
		want           float64
	}{
		{"sender.example", metrics.DKIMSigned, 3},
		{"sender.example", metrics.DKIMNotAllowed, 1},
		{"sender.example", metrics.DKIMFailed, 1},
		{"other", metrics.DKIMNoKey, 1},
		{"other", metrics.DKIMSigned, 0},
	} {
		if got := testutil.ToFloat64(m.DKIMSignatures.WithLabelValues(tt.domain, tt.result)); got != tt.want {
			t.Errorf("%s %s = %v, want %v", tt.domain, tt.result, got, tt.want)
		}
	}

	none := metrics.New(prometheus.NewRegistry())
	s, err = dkim.New(dkim.Config{Observer: none})
	if err != nil {
		t.Fatal(err)
	}
	s.Sign(from("a@sender.example"), "", nil)
	if got := testutil.ToFloat64(none.DKIMSignatures.WithLabelValues("other", metrics.DKIMNoKey)); got != 0 {
		t.Errorf("a relay without keys counted %v no_key", got)
	}
}
