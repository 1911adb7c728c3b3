package dnstest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func exchange(t *testing.T, s *Server, net, name string, qtype uint16, edns uint16) *dns.Msg {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	if edns > 0 {
		q.SetEdns0(edns, false)
	}
	c := &dns.Client{Net: net, Timeout: 2 * time.Second}
	resp, _, err := c.Exchange(q, s.Addr)
	if err != nil {
		t.Fatalf("exchange %s %s over %s: %v", name, dns.TypeToString[qtype], net, err)
	}
	return resp
}

func TestAnswers(t *testing.T) {
	t.Parallel()
	s := NewServer(t, map[string][]Record{
		"example":          {{Type: "SOA", Value: "ns.example. host.example. 1 3600 600 86400 30"}},
		"mx.example":       {{Type: "MX", Value: "10 mx1.example."}, {Type: "MX", Value: "20 MX2.Example."}},
		"mx1.example":      {{Type: "A", Value: "127.0.0.11", TTL: 300}},
		"alias.example":    {{Type: "CNAME", Value: "mx1.example."}},
		"dangling.example": {{Type: "CNAME", Value: "elsewhere.invalid."}},
		"Upper.Example.":   {{Type: "TXT", Value: `"v=STSv1; id=1"`}},
	})
	tests := []struct {
		name      string
		qtype     uint16
		rcode     int
		answers   int
		wantSOA   bool
		firstType uint16
	}{
		{"mx.example", dns.TypeMX, dns.RcodeSuccess, 2, false, dns.TypeMX},
		{"mx1.example", dns.TypeA, dns.RcodeSuccess, 1, false, dns.TypeA},
		{"mx1.example", dns.TypeAAAA, dns.RcodeSuccess, 0, true, 0},
		{"nxdomain.example", dns.TypeMX, dns.RcodeNameError, 0, true, 0},
		{"nxdomain.other", dns.TypeMX, dns.RcodeNameError, 0, false, 0},
		{"alias.example", dns.TypeA, dns.RcodeSuccess, 2, false, dns.TypeCNAME},
		{"alias.example", dns.TypeCNAME, dns.RcodeSuccess, 1, false, dns.TypeCNAME},
		{"dangling.example", dns.TypeA, dns.RcodeSuccess, 1, false, dns.TypeCNAME},
		{"UPPER.example.", dns.TypeTXT, dns.RcodeSuccess, 1, false, dns.TypeTXT},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%s", tt.name, dns.TypeToString[tt.qtype]), func(t *testing.T) {
			t.Parallel()
			resp := exchange(t, s, "udp", tt.name, tt.qtype, 0)
			if resp.Rcode != tt.rcode || len(resp.Answer) != tt.answers {
				t.Fatalf("rcode %s, %d answers; want %s, %d:\n%v", dns.RcodeToString[resp.Rcode],
					len(resp.Answer), dns.RcodeToString[tt.rcode], tt.answers, resp)
			}
			if tt.answers > 0 && resp.Answer[0].Header().Rrtype != tt.firstType {
				t.Errorf("first answer %v, want type %s", resp.Answer[0], dns.TypeToString[tt.firstType])
			}
			if gotSOA := len(resp.Ns) == 1; gotSOA != tt.wantSOA {
				t.Errorf("authority %v, want SOA %v", resp.Ns, tt.wantSOA)
			}
			if !resp.Authoritative {
				t.Error("AA bit not set")
			}
		})
	}
}

func TestTruncation(t *testing.T) {
	t.Parallel()
	var recs []Record
	for i := range 40 {
		recs = append(recs, Record{Type: "A", Value: fmt.Sprintf("127.0.1.%d", i)})
	}
	s := NewServer(t, map[string][]Record{"big.example": recs})
	tests := []struct {
		net     string
		edns    uint16
		wantTC  bool
		wantAll bool
	}{
		{"udp", 0, true, false},    // 512 bytes without EDNS0
		{"udp", 1232, false, true}, // 40 A records fit in 1232
		{"tcp", 0, false, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s-%d", tt.net, tt.edns), func(t *testing.T) {
			t.Parallel()
			resp := exchange(t, s, tt.net, "big.example", dns.TypeA, tt.edns)
			if resp.Truncated != tt.wantTC || (len(resp.Answer) == 40) != tt.wantAll {
				t.Errorf("TC=%v with %d answers; want TC=%v, all=%v", resp.Truncated, len(resp.Answer), tt.wantTC, tt.wantAll)
			}
		})
	}
}

func TestFailSetDelayQueries(t *testing.T) {
	t.Parallel()
	s := NewServer(t, map[string][]Record{"a.example": {{Type: "A", Value: "127.0.0.1"}}})

	s.Fail("A.example.", "a", dns.RcodeServerFailure)
	if resp := exchange(t, s, "udp", "a.example", dns.TypeA, 0); resp.Rcode != dns.RcodeServerFailure {
		t.Errorf("after Fail: rcode %s, want SERVFAIL", dns.RcodeToString[resp.Rcode])
	}
	s.Fail("a.example", "A", dns.RcodeSuccess)
	if resp := exchange(t, s, "udp", "a.example", dns.TypeA, 0); resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 1 {
		t.Errorf("after clearing Fail: %v", resp)
	}

	s.Set("a.example", Record{Type: "A", Value: "127.0.0.2"}, Record{Type: "A", Value: "127.0.0.3"})
	if resp := exchange(t, s, "tcp", "a.example", dns.TypeA, 0); len(resp.Answer) != 2 {
		t.Errorf("after Set: %d answers, want 2", len(resp.Answer))
	}
	s.Set("a.example")
	if resp := exchange(t, s, "udp", "a.example", dns.TypeA, 0); resp.Rcode != dns.RcodeNameError {
		t.Errorf("after Set with no records: rcode %s, want NXDOMAIN", dns.RcodeToString[resp.Rcode])
	}

	s.Delay(150 * time.Millisecond)
	start := time.Now()
	exchange(t, s, "udp", "a.example", dns.TypeMX, 0)
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("answer after %v, want the 150ms delay", d)
	}

	a := Query{Name: "a.example", Type: "A"}
	want := []Query{a, a, a, a, {Name: "a.example", Type: "MX"}}
	if got := s.Queries(); !slices.Equal(got, want) {
		t.Errorf("Queries() = %v, want %v", got, want)
	}
}

func TestStart_OutsideATest(t *testing.T) {
	t.Parallel()
	if _, err := Start(map[string][]Record{"bad.example": {{Type: "MX", Value: "not a preference"}}}); err == nil {
		t.Fatal("Start with a malformed record succeeded")
	}
	s, err := Start(map[string][]Record{"mx.example": {{Type: "MX", Value: "10 mx1.example."}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Set("mx.example", Record{Type: "MX", Value: "bad"}) // ignored: no test to fail
	if resp := exchange(t, s, "udp", "mx.example", dns.TypeMX, 0); len(resp.Answer) != 1 {
		t.Errorf("answer = %v, want the MX record kept", resp.Answer)
	}
	s.Close()
	s.Close()
}

// exchangeDO asks name/qtype with EDNS0's DO bit set or not.
func exchangeDO(t *testing.T, s *Server, name string, qtype uint16, do bool) *dns.Msg {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	q.SetEdns0(1232, do)
	resp, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(q, s.Addr)
	if err != nil {
		t.Fatalf("exchange %s %s: %v", name, dns.TypeToString[qtype], err)
	}
	return resp
}

func TestAuthenticated(t *testing.T) {
	t.Parallel()
	const hash = "8cb0fc6c527506a053f4f14c8464bebbd6dede2738d11468dd953d7d6a3021f1"
	s := NewServer(t, map[string][]Record{
		"signed.example":                   {{Type: "MX", Value: "10 mx.signed.example."}},
		"_25._tcp.mx.signed.example":       {{Type: "TLSA", Value: "3 1 1 " + hash}},
		"alias.signed.example":             {{Type: "CNAME", Value: "mx.plain.example."}},
		"mx.plain.example":                 {{Type: "A", Value: "127.0.0.1"}},
		"insecure.signed.example":          {{Type: "TXT", Value: `"v=TLSRPTv1; rua=mailto:r@signed.example"`}},
		"_mta-sts.insecure.signed.example": {{Type: "TXT", Value: `"v=STSv1; id=1"`}},
	})
	s.SetAuthenticated("signed.example", true)
	s.SetAuthenticated("insecure.signed.example", false)
	tests := []struct {
		name   string
		qtype  uint16
		do     bool
		wantAD bool
	}{
		{"signed.example", dns.TypeMX, true, true},
		{"signed.example", dns.TypeMX, false, false}, // AD only for a client that asks
		{"_25._tcp.mx.signed.example", dns.TypeTLSA, true, true},
		{"missing.signed.example", dns.TypeTLSA, true, true}, // authenticated denial
		{"alias.signed.example", dns.TypeA, true, false},     // the CNAME leads out of the zone
		{"insecure.signed.example", dns.TypeTXT, true, false},
		{"_mta-sts.insecure.signed.example", dns.TypeTXT, true, false},
		{"mx.plain.example", dns.TypeA, true, false},
	}
	for _, tt := range tests {
		resp := exchangeDO(t, s, tt.name, tt.qtype, tt.do)
		if resp.AuthenticatedData != tt.wantAD {
			t.Errorf("%s %s (DO %v): AD = %v, want %v", tt.name, dns.TypeToString[tt.qtype], tt.do, resp.AuthenticatedData, tt.wantAD)
		}
		if opt := resp.IsEdns0(); opt == nil || opt.Do() != tt.do {
			t.Errorf("%s %s: reply OPT %v does not echo DO %v", tt.name, dns.TypeToString[tt.qtype], opt, tt.do)
		}
	}
	resp := exchangeDO(t, s, "_25._tcp.mx.signed.example", dns.TypeTLSA, true)
	if len(resp.Answer) != 1 {
		t.Fatalf("TLSA answer = %v", resp.Answer)
	}
	if tlsa, ok := resp.Answer[0].(*dns.TLSA); !ok || tlsa.Usage != 3 || tlsa.Selector != 1 || tlsa.MatchingType != 1 || tlsa.Certificate != hash {
		t.Errorf("TLSA answer = %v", resp.Answer[0])
	}
	qs := s.Queries()
	if !qs[0].DO || qs[1].DO {
		t.Errorf("Queries() DO flags = %v, want true then false", qs[:2])
	}
	s.Fail("signed.example", "MX", dns.RcodeServerFailure)
	if resp := exchangeDO(t, s, "signed.example", dns.TypeMX, true); resp.Rcode != dns.RcodeServerFailure || resp.AuthenticatedData {
		t.Errorf("Fail with a DO query: rcode %s AD %v, want SERVFAIL without AD", dns.RcodeToString[resp.Rcode], resp.AuthenticatedData)
	}
}
