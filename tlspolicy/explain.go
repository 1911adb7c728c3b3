package tlspolicy

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/dane"
	"github.com/mxout/mxout/mtasts"
	"github.com/mxout/mxout/resolver"
)

// MXResolver finds a domain's MX hosts and whether the answer was
// authenticated; *resolver.Resolver satisfies it.
type MXResolver interface {
	LookupMXSecure(ctx context.Context, domain string) ([]resolver.MX, bool, error)
}

// Explanation is what mxout would enforce for a domain, and why: what
// `mxout tls check DOMAIN` prints.
type Explanation struct {
	Domain   string
	MX       []resolver.MX
	MXSecure bool
	MXErr    error
	// STS is the MTA-STS lookup (zero when MTA-STS is off), STSOn whether
	// it is on, and STSFailure why the policy could not be had.
	STS        mtasts.Result
	STSOn      bool
	STSFailure *Failure
	// DANE is whether DANE is on (delivery.dane and resolver.dnssec).
	DANE  bool
	Hosts []HostExplanation
	// At is when the explanation was made, for the policy's age.
	At time.Time
}

// HostExplanation is the policy of one MX host.
type HostExplanation struct {
	MX string
	// Policy is the decision; nil when the host cannot be used (Err).
	Policy *Host
	Err    error
	// TLSA are the host's TLSA records and whether they were
	// authenticated, looked up whatever the policy (TLSAErr on failure).
	TLSA       []resolver.TLSA
	TLSASecure bool
	TLSAErr    error
}

// Explain finds what applies to mail for domain when neither DANE nor
// MTA-STS does, configured: the MX hosts, the MTA-STS policy, each host's
// TLSA records and the resulting policy per host.
func (p *Policies) Explain(ctx context.Context, mxr MXResolver, domain string, configured configs.TLSPolicy) *Explanation {
	e := &Explanation{Domain: strings.ToLower(strings.TrimSuffix(domain, ".")), STSOn: p.cfg.STS != nil, DANE: p.cfg.DANE, At: p.cfg.Now()}
	e.MX, e.MXSecure, e.MXErr = mxr.LookupMXSecure(ctx, e.Domain)
	d := p.Domain(ctx, e.Domain, e.MXSecure)
	e.STS, e.STSFailure = d.STS, d.STSFailure()
	for _, mx := range e.MX {
		he := HostExplanation{MX: mx.Host}
		he.Policy, he.Err = p.Host(ctx, d, mx.Host, configured)
		if p.cfg.Resolver != nil {
			he.TLSA, he.TLSASecure, he.TLSAErr = p.cfg.Resolver.LookupTLSA(ctx, mx.Host, p.cfg.Port)
		}
		e.Hosts = append(e.Hosts, he)
	}
	return e
}

// WriteTo prints the explanation for people.
func (e *Explanation) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	pr := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	pr("domain: %s", e.Domain)
	switch {
	case e.MXErr != nil:
		pr("MX: lookup failed: %v", e.MXErr)
	default:
		pr("MX (%s):", authenticated(e.MXSecure))
		for _, mx := range e.MX {
			if mx.Implicit {
				pr("  %s (no MX records: the domain itself)", mx.Host)
				continue
			}
			pr("  %d %s", mx.Pref, mx.Host)
		}
	}
	e.writeSTS(pr)
	if !e.DANE {
		pr("DANE: off (needs delivery.dane and resolver.dnssec)")
	} else if !e.MXSecure {
		pr("DANE: not used: the MX answer is not authenticated by DNSSEC")
	}
	for _, h := range e.Hosts {
		pr("host %s:", h.MX)
		switch {
		case h.TLSAErr != nil:
			pr("  TLSA: lookup failed: %v", h.TLSAErr)
		case len(h.TLSA) == 0:
			pr("  TLSA: none (%s)", authenticated(h.TLSASecure))
		default:
			pr("  TLSA (%s):", authenticated(h.TLSASecure))
			for _, r := range h.TLSA {
				pr("    %s", r)
			}
		}
		if h.Err != nil {
			pr("  policy: none; the host is not used: %v", h.Err)
			continue
		}
		pr("  policy: %s: %s", h.Policy.Kind, h.Policy.describe())
		if f := h.Policy.Admit(); f != nil {
			pr("  %s: %v", map[bool]string{true: "refused", false: "would be refused (reported only)"}[f.Enforced], f)
		}
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

func (e *Explanation) writeSTS(pr func(string, ...any)) {
	switch {
	case !e.STSOn:
		pr("MTA-STS: off (delivery.mta_sts)")
		return
	case e.STS.Policy == nil && e.STSFailure != nil:
		pr("MTA-STS: no policy: %v", e.STSFailure)
		return
	case e.STS.Policy == nil && e.STS.Err != nil:
		pr("MTA-STS: no policy: %v", e.STS.Err)
		return
	case e.STS.Policy == nil:
		pr("MTA-STS: no policy published")
		return
	}
	p := e.STS.Policy
	pr("MTA-STS: mode %s, id %s, fetched %s ago (%s), max_age %ds, expires %s",
		p.Mode, e.STS.ID, e.At.Sub(e.STS.Fetched).Round(time.Second), e.STS.Fetched.UTC().Format(time.RFC3339),
		int64(p.MaxAge/time.Second), e.STS.Expires().UTC().Format(time.RFC3339))
	for _, mx := range p.MX {
		pr("  mx: %s", mx)
	}
	if e.STS.Err != nil {
		pr("  (cached: the latest refresh failed: %v)", e.STS.Err)
	}
}

// describe says what the policy asks of the session.
func (h *Host) describe() string {
	switch h.Kind {
	case DANE:
		if len(dane.Usable(h.tlsa)) == 0 {
			return "TLS required; no TLSA record is usable, so any certificate is accepted"
		}
		return "TLS required; the certificate must match a TLSA record"
	case MTASTS:
		return "TLS required; the certificate must be valid for the MX host name; only hosts the policy lists"
	case MTASTSTesting:
		return "delivered as configured (" + h.configuredDesc() + "); MTA-STS failures are counted and logged"
	case Required:
		return "TLS required; the certificate must be valid for the MX host name"
	}
	return h.configuredDesc()
}

func (h *Host) configuredDesc() string {
	switch h.TLS {
	case TLSMust:
		return "TLS required, certificate valid for the MX host name"
	case TLSOff:
		return "no TLS (delivery.tls disabled)"
	}
	return "STARTTLS when offered, any certificate"
}

func authenticated(secure bool) string {
	if secure {
		return "authenticated by DNSSEC"
	}
	return "not authenticated"
}
