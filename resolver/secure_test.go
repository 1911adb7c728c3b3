package resolver_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/mxout/mxout/resolver"
	"github.com/mxout/mxout/resolver/dnstest"
)

const tlsaHash = "8cb0fc6c527506a053f4f14c8464bebbd6dede2738d11468dd953d7d6a3021f1"

// secureZone has a validated zone (signed.example) with a subzone that is
// not (insecure.signed.example), and CNAMEs that leave the validated zone.
func secureZone(t *testing.T) *dnstest.Server {
	t.Helper()
	s := dnstest.NewServer(t, map[string][]dnstest.Record{
		"signed.example":                      {{Type: "MX", Value: "10 mx.signed.example."}},
		"mx.signed.example":                   {{Type: "A", Value: "127.0.0.1"}},
		"_25._tcp.mx.signed.example":          {{Type: "TLSA", Value: "3 1 1 " + tlsaHash}, {Type: "TLSA", Value: "2 0 0 3082"}},
		"_mta-sts.signed.example":             {{Type: "TXT", Value: `"v=STSv1; id=20240101"`}},
		"nomx.signed.example":                 {{Type: "A", Value: "127.0.0.1"}},
		"insecure.signed.example":             {{Type: "MX", Value: "10 mx.insecure.signed.example."}},
		"_25._tcp.mx.insecure.signed.example": {{Type: "TLSA", Value: "3 1 1 " + tlsaHash}},
		"hop1.signed.example":                 {{Type: "CNAME", Value: "hop2.signed.example."}},
		"hop2.signed.example":                 {{Type: "CNAME", Value: "hop3.plain.example."}},
		"hop3.plain.example":                  {{Type: "MX", Value: "10 mx.plain.example."}},
	})
	s.SetAuthenticated("signed.example", true)
	s.SetAuthenticated("insecure.signed.example", false)
	return s
}

func TestSecureNeedsDNSSEC(t *testing.T) {
	t.Parallel()
	s := secureZone(t)
	r := newResolver(t, resolver.Config{}, s.Addr) // DNSSEC off
	mxs, secure, err := r.LookupMXSecure(context.Background(), "signed.example")
	if err != nil || len(mxs) != 1 || secure {
		t.Errorf("LookupMXSecure without DNSSEC = %v, %v, %v; want one MX, not secure", mxs, secure, err)
	}
	recs, secure, err := r.LookupTLSA(context.Background(), "mx.signed.example", 25)
	if err != nil || len(recs) != 2 || secure {
		t.Errorf("LookupTLSA without DNSSEC = %v, %v, %v; want two records, not secure", recs, secure, err)
	}
	for _, q := range s.Queries() {
		if q.DO {
			t.Errorf("query %v set DO with DNSSEC off", q)
		}
	}
}

func TestSecureLookups(t *testing.T) {
	t.Parallel()
	s := secureZone(t)
	rec := &recorder{}
	r := newResolver(t, resolver.Config{DNSSEC: true, Observer: rec}, s.Addr)
	ctx := context.Background()

	mxs, secure, err := r.LookupMXSecure(ctx, "Signed.Example.")
	if err != nil || len(mxs) != 1 || mxs[0].Host != "mx.signed.example" || !secure {
		t.Errorf("LookupMXSecure(signed) = %v, %v, %v; want mx.signed.example, secure", mxs, secure, err)
	}
	mxs, secure, err = r.LookupMXSecure(ctx, "nomx.signed.example")
	if err != nil || len(mxs) != 1 || !mxs[0].Implicit || !secure {
		t.Errorf("LookupMXSecure(nomx) = %v, %v, %v; want a secure implicit MX", mxs, secure, err)
	}
	if _, secure, err = r.LookupMXSecure(ctx, "insecure.signed.example"); err != nil || secure {
		t.Errorf("LookupMXSecure(insecure subzone) = %v, %v; want not secure", secure, err)
	}
	// hop1 and hop2 are validated, hop3 is not: the whole answer is not.
	mxs, secure, err = r.LookupMXSecure(ctx, "hop1.signed.example")
	if err != nil || len(mxs) != 1 || mxs[0].Host != "mx.plain.example" || secure {
		t.Errorf("LookupMXSecure(CNAME chain out of the zone) = %v, %v, %v; want mx.plain.example, not secure", mxs, secure, err)
	}

	txts, secure, err := r.LookupTXTSecure(ctx, "_mta-sts.signed.example")
	if err != nil || !slices.Equal(txts, []string{"v=STSv1; id=20240101"}) || !secure {
		t.Errorf("LookupTXTSecure = %q, %v, %v", txts, secure, err)
	}
	_, secure, err = r.LookupTXTSecure(ctx, "_smtp._tls.signed.example")
	var re *resolver.Error
	if !errors.As(err, &re) || re.Kind != resolver.KindNXDomain || !secure {
		t.Errorf("LookupTXTSecure(missing) = %v, %v; want a secure NXDOMAIN", secure, err)
	}

	recs, secure, err := r.LookupTLSA(ctx, "MX.signed.example.", 25)
	if err != nil || !secure || len(recs) != 2 {
		t.Fatalf("LookupTLSA = %v, %v, %v; want two secure records", recs, secure, err)
	}
	if got := recs[0].String(); got != "3 1 1 8CB0FC6C527506A053F4F14C8464BEBBD6DEDE2738D11468DD953D7D6A3021F1" {
		t.Errorf("TLSA String() = %q", got)
	}
	if recs[1].Usage != 2 || recs[1].Selector != 0 || recs[1].MatchingType != 0 || !slices.Equal(recs[1].Data, []byte{0x30, 0x82}) {
		t.Errorf("second TLSA = %+v", recs[1])
	}
	// Cached: the same answer and the same security without a query.
	before := len(s.Queries())
	if recs, secure, err = r.LookupTLSA(ctx, "mx.signed.example", 25); err != nil || !secure || len(recs) != 2 || len(s.Queries()) != before {
		t.Errorf("cached LookupTLSA = %v, %v, %v after %d new queries", recs, secure, err, len(s.Queries())-before)
	}

	recs, secure, err = r.LookupTLSA(ctx, "mx.signed.example", 587)
	if err != nil || len(recs) != 0 || !secure {
		t.Errorf("LookupTLSA(no records) = %v, %v, %v; want an authenticated absence", recs, secure, err)
	}
	recs, secure, err = r.LookupTLSA(ctx, "mx.insecure.signed.example", 25)
	if err != nil || len(recs) != 1 || secure {
		t.Errorf("LookupTLSA(insecure) = %v, %v, %v; want one record, not secure", recs, secure, err)
	}
	for _, bad := range []struct {
		host string
		port int
	}{{"mx.signed.example", 0}, {"mx.signed.example", 65536}, {"bad host", 25}} {
		if _, _, err := r.LookupTLSA(ctx, bad.host, bad.port); !errors.Is(err, resolver.ErrInvalidName) {
			t.Errorf("LookupTLSA(%q, %d) = %v, want ErrInvalidName", bad.host, bad.port, err)
		}
	}

	for _, q := range s.Queries() {
		if !q.DO {
			t.Errorf("query %v without DO while DNSSEC is on", q)
		}
	}
	if !slices.Contains(rec.take(), observation{"TLSA", "ok"}) {
		t.Error("the Observer saw no TLSA lookup")
	}
}
