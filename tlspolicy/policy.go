package tlspolicy

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/mtasts"
	"github.com/mxout/mxout/resolver"
	"github.com/mxout/mxout/tlsrpt"
)

// Kind is the policy a session is held to. Its values are the policy
// label of mxout_outbound_tls_total and the tls_policy= of the attempt
// log line.
type Kind string

// The kinds, by precedence.
const (
	// DANE: authenticated TLSA records; TLS is required, and the
	// certificate must match one (DANE-EE: whatever its name or issuer).
	DANE Kind = "dane"
	// MTASTS: an enforced MTA-STS policy; only matching MX hosts, TLS
	// required, a certificate valid for the MX host name.
	MTASTS Kind = "mta-sts"
	// MTASTSTesting: a policy in testing mode; delivery as configured,
	// failures counted and logged.
	MTASTSTesting Kind = "mta-sts-testing"
	// Required: delivery.tls required; TLS with a certificate valid for
	// the MX host name.
	Required Kind = "required"
	// Opportunistic: STARTTLS when offered, any certificate (delivery.tls
	// opportunistic, or disabled: then no TLS is tried).
	Opportunistic Kind = "opportunistic"
)

// TLSMode is what a session does about TLS.
type TLSMode int

// The modes.
const (
	// TLSOff: no STARTTLS (delivery.tls disabled).
	TLSOff TLSMode = iota
	// TLSMay: STARTTLS when offered; plaintext otherwise.
	TLSMay
	// TLSMust: STARTTLS or no delivery to this host.
	TLSMust
)

// Resolver is what the policies need of mxout's resolver.
type Resolver interface {
	LookupTLSA(ctx context.Context, host string, port int) ([]resolver.TLSA, bool, error)
}

// STS finds a domain's MTA-STS policy; *mtasts.Cache satisfies it.
type STS interface {
	Lookup(ctx context.Context, domain string) mtasts.Result
}

// Config is what Policies need.
type Config struct {
	Resolver Resolver
	// STS finds MTA-STS policies; nil when delivery.mta_sts is off.
	STS STS
	// DANE is on when delivery.dane and resolver.dnssec both are.
	DANE bool
	// Port is delivery.port, the port in TLSA names (_25._tcp.<host>).
	Port int
	// RootCAs verify certificates for MTA-STS and required; nil means
	// the system roots.
	RootCAs *x509.CertPool
	// Now is the clock of certificate checks; nil means time.Now.
	Now func() time.Time
}

// Policies decides the TLS policy of each delivery. It is safe for
// concurrent use.
type Policies struct {
	cfg Config
}

// New returns Policies for cfg.
func New(cfg Config) *Policies {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Policies{cfg: cfg}
}

// Domain is what applies to a whole recipient domain.
type Domain struct {
	Name string
	// MXSecure: the domain's MX RRset (or its absence, for an implicit
	// MX) was authenticated, so TLSA records of its hosts count.
	MXSecure bool
	// STS is the domain's MTA-STS lookup; zero when MTA-STS is off.
	STS mtasts.Result
}

// Domain looks up what applies to domain: its MTA-STS policy. mxSecure
// says whether its MX answer was authenticated (resolver.LookupMXSecure).
func (p *Policies) Domain(ctx context.Context, domain string, mxSecure bool) *Domain {
	d := &Domain{Name: strings.ToLower(strings.TrimSuffix(domain, ".")), MXSecure: mxSecure}
	if p.cfg.STS != nil {
		d.STS = p.cfg.STS.Lookup(ctx, d.Name)
	}
	return d
}

// STSFailure is the failure to report when the domain's MTA-STS policy
// could not be had (fetch, certificate or syntax), or nil. Such a failure
// is never enforced: without a policy, mail goes as configured.
func (d *Domain) STSFailure() *Failure {
	err := d.STS.Err
	var result tlsrpt.ResultType
	switch {
	case err == nil:
		return nil
	case errors.Is(err, mtasts.ErrWebPKI):
		result = tlsrpt.STSWebPKIInvalid
	case errors.Is(err, mtasts.ErrPolicyInvalid), errors.Is(err, mtasts.ErrRecordInvalid):
		result = tlsrpt.STSPolicyInvalid
	case errors.Is(err, mtasts.ErrFetch):
		result = tlsrpt.STSPolicyFetchError
	default:
		return nil // the TXT lookup failed: a DNS problem, not the policy's
	}
	return &Failure{Result: result, Err: err}
}

// sts returns the MTA-STS policy in force, or nil.
func (d *Domain) sts() *mtasts.Policy {
	if p := d.STS.Policy; p != nil && p.Mode != mtasts.None {
		return p
	}
	return nil
}

// Host decides the policy for delivering to mxHost, one MX host of d,
// falling back to configured. With DANE on and d's MX answer
// authenticated, it looks up the host's TLSA records: authenticated ones
// make the policy DANE; a failed lookup makes the host unusable (an
// error: RFC 7672 §2.2 asks to try the next MX, then defer).
func (p *Policies) Host(ctx context.Context, d *Domain, mxHost string, configured configs.TLSPolicy) (*Host, error) {
	mxHost = strings.ToLower(strings.TrimSuffix(mxHost, "."))
	h := &Host{MX: mxHost, Domain: d.Name, roots: p.cfg.RootCAs, now: p.cfg.Now}
	if p.cfg.DANE && d.MXSecure {
		recs, secure, err := p.cfg.Resolver.LookupTLSA(ctx, mxHost, p.cfg.Port)
		if err != nil {
			return nil, &Failure{Result: tlsrpt.DNSSECInvalid, Enforced: true,
				Err: fmt.Errorf("DANE: TLSA lookup for %s failed, so the host cannot be used: %w", mxHost, err)}
		}
		if secure && len(recs) > 0 {
			h.Kind, h.TLS, h.tlsa = DANE, TLSMust, recs
			return h, nil
		}
	}
	if sts := d.sts(); sts != nil {
		h.sts = sts
		if sts.Mode == mtasts.Enforce {
			h.Kind, h.TLS = MTASTS, TLSMust
			return h, nil
		}
		h.Kind = MTASTSTesting
		h.TLS = modeOf(configured)
		h.configured = configured
		return h, nil
	}
	switch configured {
	case configs.TLSRequired:
		h.Kind, h.TLS = Required, TLSMust
	default:
		h.Kind, h.TLS = Opportunistic, modeOf(configured)
	}
	return h, nil
}

func modeOf(c configs.TLSPolicy) TLSMode {
	switch c {
	case configs.TLSRequired:
		return TLSMust
	case configs.TLSDisabled:
		return TLSOff
	}
	return TLSMay
}
