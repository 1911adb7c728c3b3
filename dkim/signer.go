package dkim

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	msgauth "github.com/emersion/go-msgauth/dkim"
	"github.com/mxout/mxout/metrics"
)

// Config lists the signing domains and their keys. cmd/mxout fills it from
// the dkim config section.
type Config struct {
	Domains []DomainConfig
	// Require makes Sign refuse (with a *NoKeyError) a message whose
	// signing domain has no key.
	Require bool
	// Observer, if set, is told the outcome of every signing decision
	// (metrics). New takes it; Reload keeps the Signer's.
	Observer Observer
}

// Observer counts signing decisions: the signing domain and one of
// metrics.DKIMSigned, DKIMFailed, DKIMNoKey, DKIMNotAllowed.
type Observer interface {
	ObserveDKIM(domain, result string)
}

// DomainConfig is one signing domain.
type DomainConfig struct {
	// Domain is the d= of its signatures, matched against the From: domain.
	Domain string
	// Keys each add one DKIM-Signature, in this order; at least one.
	Keys []KeyConfig
	// Headers are the header fields to sign, From among them; a name
	// listed twice is over-signed.
	Headers []string
}

// ErrNoKey matches a *NoKeyError with errors.Is.
var ErrNoKey = errors.New("dkim: no key for the signing domain")

// NoKeyError is Sign's refusal when Config.Require is set and the signing
// domain has no key.
type NoKeyError struct {
	// Domain is the signing domain, "" when neither the From: header nor
	// the envelope sender named one.
	Domain string
}

func (e *NoKeyError) Error() string {
	if e.Domain == "" {
		return "dkim: the message names no signing domain (no From: address or envelope sender domain), and signing is required"
	}
	return "dkim: no key for " + e.Domain + ", and signing is required"
}

// Is matches ErrNoKey.
func (e *NoKeyError) Is(target error) bool { return target == ErrNoKey }

// Permanent reports true: sending the message again cannot succeed until
// the configuration changes.
func (e *NoKeyError) Permanent() bool { return true }

// ErrDomainNotAllowed matches a *DomainNotAllowedError with errors.Is.
var ErrDomainNotAllowed = errors.New("dkim: the sender may not use the signing domain")

// DomainNotAllowedError is Sign's refusal when the signing domain has a
// key but the caller's allowed function says the sender may not use it:
// a signature would make the message pass DMARC for a domain that is not
// the sender's.
type DomainNotAllowedError struct {
	Domain string
}

func (e *DomainNotAllowedError) Error() string {
	return "dkim: the sender may not use " + e.Domain + ", so the message is not signed with its key"
}

// Is matches ErrDomainNotAllowed.
func (e *DomainNotAllowedError) Is(target error) bool { return target == ErrDomainNotAllowed }

// Permanent reports true: the same message from the same sender is
// refused again.
func (e *DomainNotAllowedError) Permanent() bool { return true }

// Signer signs messages with the keys of their domain. It is safe for
// concurrent use.
type Signer struct {
	set      atomic.Pointer[keySet]
	observer Observer
}

// keySet is one loaded configuration; Reload swaps it whole.
type keySet struct {
	require bool
	domains map[string]*domainKeys
}

type domainKeys struct {
	domain  string
	headers []string
	keys    []*Key
}

// New loads every key of cfg. A key that cannot be loaded is an error
// naming its domain, selector and file.
func New(cfg Config) (*Signer, error) {
	set, err := load(cfg)
	if err != nil {
		return nil, err
	}
	s := &Signer{observer: cfg.Observer}
	s.set.Store(set)
	return s, nil
}

// observe reports a decision about a message for domain; a relay without
// keys decides nothing and reports nothing.
func (s *Signer) observe(set *keySet, domain, result string) {
	if s.observer != nil && (len(set.domains) > 0 || set.require) {
		s.observer.ObserveDKIM(domain, result)
	}
}

// Reload loads every key of cfg and, if all load, replaces the keys in
// use. On error the Signer keeps its keys; the error names each failure.
func (s *Signer) Reload(cfg Config) error {
	set, err := load(cfg)
	if err != nil {
		return err
	}
	s.set.Store(set)
	return nil
}

// Domains returns the signing domains, normalised, in no particular order.
func (s *Signer) Domains() []string {
	set := s.set.Load()
	out := make([]string, 0, len(set.domains))
	for d := range set.domains {
		out = append(out, d)
	}
	return out
}

func load(cfg Config) (*keySet, error) {
	set := &keySet{require: cfg.Require, domains: make(map[string]*domainKeys, len(cfg.Domains))}
	var errs []error
	for _, dc := range cfg.Domains {
		d, err := loadDomain(dc)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if set.domains[d.domain] != nil {
			errs = append(errs, fmt.Errorf("domain %s is listed twice", d.domain))
			continue
		}
		set.domains[d.domain] = d
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return set, nil
}

func loadDomain(dc DomainConfig) (*domainKeys, error) {
	name := NormalizeDomain(dc.Domain)
	if name == "" {
		return nil, fmt.Errorf("domain %q is not a domain name", dc.Domain)
	}
	if len(dc.Keys) == 0 {
		return nil, fmt.Errorf("domain %s has no key", name)
	}
	if !hasFrom(dc.Headers) {
		return nil, fmt.Errorf("domain %s: the signed headers must include From", name)
	}
	d := &domainKeys{domain: name, headers: append([]string(nil), dc.Headers...)}
	var errs []error
	for _, kc := range dc.Keys {
		k, err := LoadKey(kc)
		if err != nil {
			errs = append(errs, fmt.Errorf("domain %s, selector %s: %w", name, kc.Selector, err))
			continue
		}
		d.keys = append(d.keys, k)
	}
	return d, errors.Join(errs...)
}

func hasFrom(headers []string) bool {
	for _, h := range headers {
		if strings.EqualFold(h, "From") {
			return true
		}
	}
	return false
}

// Sign returns msg with one DKIM-Signature field per key of its signing
// domain: the From: header's domain, else envelopeFrom's. A message whose
// domain has no key is returned unchanged, or refused with a *NoKeyError
// when signing is required. When allowed is not nil, it is asked about a
// signing domain that has a key before the key is used; if it says no,
// nothing is signed and Sign returns a *DomainNotAllowedError. (Submission
// passes the authenticated user's allowed senders, so that no user gets a
// signature for a domain that is not theirs.) msg must use CRLF line
// endings; it is not modified, except that an all-header message gets the
// empty line that ends a header section appended.
func (s *Signer) Sign(msg []byte, envelopeFrom string, allowed func(domain string) bool) ([]byte, error) {
	sig, err := s.Signatures(msg, envelopeFrom, allowed)
	if err != nil {
		return nil, err
	}
	return sig.Apply(msg), nil
}

// Signature is what signing adds to a message: the DKIM-Signature Fields
// to put in front of it and, for a message that is all header, the
// Separator to append (the empty line that ends a header section, which
// the signatures cover). Both are empty when the message is not signed.
type Signature struct {
	Fields, Separator []byte
}

// Apply returns msg with sig added, in a new buffer; msg itself when sig
// adds nothing.
func (sig Signature) Apply(msg []byte) []byte {
	if len(sig.Fields) == 0 && len(sig.Separator) == 0 {
		return msg
	}
	out := make([]byte, 0, len(sig.Fields)+len(msg)+len(sig.Separator))
	out = append(append(out, sig.Fields...), msg...)
	return append(out, sig.Separator...)
}

// Signatures is Sign without the copy of msg: it decides and refuses as
// Sign does, and returns what Sign would add, for a caller that keeps
// room in front of its message.
func (s *Signer) Signatures(msg []byte, envelopeFrom string, allowed func(domain string) bool) (Signature, error) {
	set := s.set.Load()
	if len(set.domains) == 0 && !set.require {
		return Signature{}, nil
	}
	h := scanHeader(msg)
	domain := fromDomain(h.From)
	if domain == "" {
		domain = addressDomain(envelopeFrom)
	}
	d := set.domains[domain]
	if d == nil {
		s.observe(set, domain, metrics.DKIMNoKey)
		if set.require {
			return Signature{}, &NoKeyError{Domain: domain}
		}
		return Signature{}, nil
	}
	if allowed != nil && !allowed(domain) {
		s.observe(set, domain, metrics.DKIMNotAllowed)
		return Signature{}, &DomainNotAllowedError{Domain: domain}
	}
	if h.StartsFolded {
		// go-msgauth would sign it, but a verifier reads such a header
		// differently and the signature fails: better none than a bad one.
		s.observe(set, domain, metrics.DKIMFailed)
		return Signature{}, ErrMalformedHeader
	}
	return s.signWith(set, d, msg, h.Terminated)
}

// signWith signs msg with d's keys and reports the outcome.
func (s *Signer) signWith(set *keySet, d *domainKeys, msg []byte, terminated bool) (Signature, error) {
	sig, err := d.sign(msg, terminated)
	if err != nil {
		s.observe(set, d.domain, metrics.DKIMFailed)
		return Signature{}, err
	}
	s.observe(set, d.domain, metrics.DKIMSigned)
	return sig, nil
}

// ErrMalformedHeader means the message's header starts with a continuation
// line and cannot be signed so that it verifies. Submission never passes
// one: its Received header comes first.
var ErrMalformedHeader = errors.New("dkim: the header section starts with a continuation line")

// SignDomain signs msg with the keys of domain, whatever its From: header
// says, and returns it unchanged when domain has no key, even when
// signing is required. It is for mail the relay writes itself: bounces are
// signed with the hostname's key.
func (s *Signer) SignDomain(domain string, msg []byte) ([]byte, error) {
	set := s.set.Load()
	d := set.domains[NormalizeDomain(domain)]
	if d == nil {
		s.observe(set, NormalizeDomain(domain), metrics.DKIMNoKey)
		return msg, nil
	}
	sig, err := s.signWith(set, d, msg, scanHeader(msg).Terminated)
	if err != nil {
		return nil, err
	}
	return sig.Apply(msg), nil
}

// sign makes one signature per key. Each is computed over the message as
// given (with the separator an unterminated header needs):
// DKIM-Signature is not in the signed header list, so the signatures do
// not cover each other and verify in any order.
func (d *domainKeys) sign(msg []byte, terminated bool) (Signature, error) {
	var sig Signature
	if !terminated {
		sig.Separator = separator(msg)
	}
	for _, k := range d.keys {
		f, err := signOne(d.domain, d.headers, k, msg, sig.Separator)
		if err != nil {
			return Signature{}, fmt.Errorf("dkim: sign for %s with selector %s: %w", d.domain, k.Selector, err)
		}
		sig.Fields = append(sig.Fields, f...)
	}
	return sig, nil
}

// separator is what an all-header message needs at its end for the empty
// line that ends a header section: a line end for its last line if that
// has none, then the empty line.
func separator(msg []byte) []byte {
	if len(msg) > 0 && msg[len(msg)-1] != '\n' {
		return []byte("\r\n\r\n")
	}
	return []byte("\r\n")
}

func signOne(domain string, headers []string, k *Key, msg, tail []byte) (string, error) {
	sg, err := msgauth.NewSigner(&msgauth.SignOptions{
		Domain:                 domain,
		Selector:               k.Selector,
		Signer:                 k.Signer,
		HeaderCanonicalization: msgauth.CanonicalizationRelaxed,
		BodyCanonicalization:   msgauth.CanonicalizationRelaxed,
		HeaderKeys:             headers,
	})
	if err != nil {
		return "", err
	}
	for _, b := range [][]byte{msg, tail} {
		if _, err := sg.Write(b); err != nil {
			sg.Close()
			return "", err
		}
	}
	if err := sg.Close(); err != nil {
		return "", err
	}
	return sg.Signature(), nil
}
