package dkim

import (
	"bytes"
	"context"
	"fmt"

	msgauth "github.com/emersion/go-msgauth/dkim"
)

// LookupTXTFunc returns the TXT records of a name, one string per record
// (resolver.Resolver.LookupTXT).
type LookupTXTFunc func(ctx context.Context, name string) ([]string, error)

// CheckResult is what Check found for one key.
type CheckResult struct {
	// Name is where the record was looked up: <selector>._domainkey.<domain>.
	Name string
	// Record is the published record, when exactly one parsed.
	Record *Record
	// Err says why the published record does not serve the key; nil when
	// it does.
	Err error
}

// OK reports whether the published record serves the key.
func (c CheckResult) OK() bool { return c.Err == nil }

// Check looks up the record of key at domain and reports whether it
// publishes key's public half, then signs a test message and verifies it
// with go-msgauth through the same lookup, as a receiver would.
func Check(ctx context.Context, lookup LookupTXTFunc, domain string, key *Key) CheckResult {
	domain = NormalizeDomain(domain)
	res := CheckResult{Name: RecordName(key.Selector, domain)}
	txts, err := lookup(ctx, res.Name)
	switch {
	case err != nil:
		res.Err = fmt.Errorf("not published: %w", err)
		return res
	case len(txts) != 1:
		res.Err = fmt.Errorf("%d TXT records at %s: publish exactly one (RFC 6376 3.6.2.2)", len(txts), res.Name)
		return res
	}
	rec, err := ParseRecord(txts[0])
	if err != nil {
		res.Err = fmt.Errorf("the published record does not parse: %w", err)
		return res
	}
	res.Record = &rec
	if _, err := rec.PublicKeyValue(); err != nil {
		res.Err = fmt.Errorf("the published record: %w", err)
		return res
	}
	if !rec.Matches(key.Signer.Public()) {
		res.Err = fmt.Errorf("the published key is not the public half of %s", key.File)
		return res
	}
	res.Err = verifyRoundTrip(ctx, lookup, domain, key)
	return res
}

// verifyRoundTrip signs a small message with key and verifies it through
// lookup, catching what a receiver would refuse that the key comparison
// does not (an h= tag without sha256, a key too short for verifiers).
func verifyRoundTrip(ctx context.Context, lookup LookupTXTFunc, domain string, key *Key) error {
	msg := []byte("From: dkim-check@" + domain + "\r\nSubject: mxout dkim check\r\n\r\ntest\r\n")
	d := &domainKeys{domain: domain, headers: []string{"From", "Subject"}, keys: []*Key{key}}
	sig, err := d.sign(msg, true)
	if err != nil {
		return fmt.Errorf("sign a test message: %w", err)
	}
	vs, err := msgauth.VerifyWithOptions(bytes.NewReader(sig.Apply(msg)), &msgauth.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) { return lookup(ctx, name) },
	})
	if err != nil {
		return fmt.Errorf("verify a test signature: %w", err)
	}
	if len(vs) != 1 {
		return fmt.Errorf("verify a test signature: %d verifications, want 1", len(vs))
	}
	if vs[0].Err != nil {
		return fmt.Errorf("a test signature does not verify: %w", vs[0].Err)
	}
	return nil
}
