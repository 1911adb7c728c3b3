package delivery

import (
	"crypto/x509"
	"errors"
	"net/netip"
	"strings"

	"github.com/mxout/mxout/configs"
)

// Smarthost sends all mail through one upstream relay instead of looking
// up MX records.
type Smarthost struct {
	// Address is where the smarthost listens; zero means MX routing.
	Address configs.HostPort
	// Username and Password, when set, are used with AUTH PLAIN or LOGIN,
	// only over TLS whose certificate is verified.
	Username, Password string
	// TLS is configs.TLSStartTLS (mandatory; also when empty),
	// TLSImplicit or TLSNone (not with credentials). The certificate is
	// verified when credentials are set or Config.TLS is TLSRequired.
	TLS configs.TLSMode
	// RootCAs verify the certificate; nil means Config.RootCAs.
	RootCAs *x509.CertPool
	// InsecureSkipVerify accepts any certificate, credentials or not.
	InsecureSkipVerify bool
}

// route is where one destination's mail goes.
type route struct {
	dest      string // the limits, rate and dead-destination key
	policy    configs.DomainPolicy
	tls       tlsPolicy
	cred      *credentials
	smarthost bool
	host      string // smarthost host
	port      int
}

// routeFor resolves the settings for a destination: a recipient domain,
// or in smarthost mode the smarthost's host, whose entry in Domains (if
// any) then applies.
func (e *Engine) routeFor(dest string) route {
	pol := e.cfg.Domains[dest]
	if pol.MaxConnections <= 0 {
		pol.MaxConnections = e.cfg.MaxConnectionsPerDomain
	}
	if pol.MaxMessagesPerConnection <= 0 {
		pol.MaxMessagesPerConnection = e.cfg.MaxMessagesPerConnection
	}
	if pol.TLS == "" {
		pol.TLS = e.cfg.TLS
	}
	r := route{dest: dest, policy: pol, tls: policyOf(pol.TLS), port: e.cfg.Port}
	if sh := e.smarthost; sh.host != "" {
		r.smarthost, r.host, r.port, r.cred = true, sh.host, sh.port, sh.cred
		r.tls = sh.tls
	}
	return r
}

// smarthostRoute is the parsed Config.Smarthost.
type smarthostRoute struct {
	host string
	port int
	tls  tlsPolicy
	cred *credentials
}

// parseSmarthost reads sh. Its certificate is verified when verifyAll
// (delivery.tls: required) or credentials are set, unless
// sh.InsecureSkipVerify: a password must not go to whoever answers the
// connection with a certificate of their own.
func parseSmarthost(sh Smarthost, verifyAll bool) (smarthostRoute, error) {
	if sh.Address.IsZero() {
		return smarthostRoute{}, nil
	}
	r := smarthostRoute{host: strings.ToLower(sh.Address.Host), port: int(sh.Address.Port)}
	if sh.Username != "" {
		r.cred = &credentials{user: sh.Username, password: sh.Password}
	}
	verify := (verifyAll || r.cred != nil) && !sh.InsecureSkipVerify
	switch sh.TLS {
	case configs.TLSImplicit:
		r.tls = tlsPolicy{mode: tlsImplicit, verify: verify, roots: sh.RootCAs}
	case configs.TLSNone:
		if r.cred != nil {
			return smarthostRoute{}, errors.New("delivery: smarthost credentials need TLS (starttls or implicit); without it the password would travel in the clear")
		}
		r.tls = tlsPolicy{mode: tlsOff}
	default:
		r.tls = tlsPolicy{mode: tlsMust, verify: verify, roots: sh.RootCAs}
	}
	return r, nil
}

// usable reports whether addr may be connected to under Config.IPFamily
// and Config.SourceAddr (a source address only reaches its own family).
func (e *Engine) usable(addr netip.Addr) bool {
	addr = addr.Unmap()
	if !e.cfg.IPFamily.Allows(addr) {
		return false
	}
	src := e.cfg.SourceAddr
	return !src.IsValid() || src.Unmap().Is4() == addr.Is4()
}
