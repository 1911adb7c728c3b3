package delivery

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Timeouts bound each step of an outbound session (RFC 5321 §4.5.3.2).
// A zero field takes its DefaultTimeouts value.
type Timeouts struct {
	// Connect bounds the TCP connect to one address.
	Connect time.Duration
	// Greeting bounds the wait for the 220 greeting (RFC: 5 minutes).
	Greeting time.Duration
	// Helo bounds EHLO/HELO, STARTTLS with its handshake, and AUTH
	// (Postfix smtp_helo_timeout: 300s).
	Helo time.Duration
	// Mail bounds the reply to MAIL FROM (RFC: 5 minutes).
	Mail time.Duration
	// Rcpt bounds the reply to each RCPT TO (RFC: 5 minutes).
	Rcpt time.Duration
	// DataInit bounds the 354 reply to DATA (RFC: 2 minutes).
	DataInit time.Duration
	// DataBlock bounds each 64 KiB write of the body (RFC: 3 minutes).
	DataBlock time.Duration
	// DataDone bounds the reply to the final dot (RFC: 10 minutes).
	DataDone time.Duration
	// Rset bounds RSET before a cached session is reused, and QUIT
	// (Postfix smtp_rset_timeout: 20s).
	Rset time.Duration
	// Attempt bounds one whole attempt of a group: its MX walk, every
	// session and the transaction (attempt.go).
	Attempt time.Duration
}

// DefaultTimeouts are RFC 5321's values, with Postfix's where the RFC
// names none.
var DefaultTimeouts = Timeouts{
	Connect: 30 * time.Second, Greeting: 5 * time.Minute, Helo: 5 * time.Minute,
	Mail: 5 * time.Minute, Rcpt: 5 * time.Minute, DataInit: 2 * time.Minute,
	DataBlock: 3 * time.Minute, DataDone: 10 * time.Minute, Rset: 20 * time.Second,
	Attempt: 30 * time.Minute,
}

// withDefaults fills zero fields from DefaultTimeouts.
func (t Timeouts) withDefaults() Timeouts {
	fill := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
	}
	d := DefaultTimeouts
	fill(&t.Connect, d.Connect)
	fill(&t.Greeting, d.Greeting)
	fill(&t.Helo, d.Helo)
	fill(&t.Mail, d.Mail)
	fill(&t.Rcpt, d.Rcpt)
	fill(&t.DataInit, d.DataInit)
	fill(&t.DataBlock, d.DataBlock)
	fill(&t.DataDone, d.DataDone)
	fill(&t.Rset, d.Rset)
	fill(&t.Attempt, d.Attempt)
	return t
}

// DomainPolicy overrides the global settings for one destination domain.
// A zero field inherits the global value.
type DomainPolicy struct {
	// MaxConnections caps concurrent connections (Config.MaxConnectionsPerDomain).
	MaxConnections int
	// MaxMessagesPerConnection caps transactions per session
	// (Config.MaxMessagesPerConnection).
	MaxMessagesPerConnection int
	// Rate spaces transactions; zero is unlimited.
	Rate Rate
	// TLS is TLSOpportunistic, TLSRequired or TLSDisabled (Config.TLS).
	TLS string
}

// Smarthost modes of delivery.smarthost.tls.
const (
	SmarthostSTARTTLS = "starttls"
	SmarthostImplicit = "implicit"
	SmarthostNone     = "none"
)

// Smarthost sends all mail through one upstream relay instead of looking
// up MX records.
type Smarthost struct {
	// Address is host:port; empty means MX routing.
	Address string
	// Username and Password, when set, are used with AUTH PLAIN or LOGIN,
	// only over TLS whose certificate is verified.
	Username, Password string
	// TLS is SmarthostSTARTTLS (mandatory), SmarthostImplicit or
	// SmarthostNone (not with credentials). The certificate is verified
	// when credentials are set or Config.TLS is TLSRequired.
	TLS string
	// RootCAs verify the certificate; nil means Config.RootCAs.
	RootCAs *x509.CertPool
	// InsecureSkipVerify accepts any certificate, credentials or not.
	InsecureSkipVerify bool
}

// IP families for Config.IPFamily.
const (
	IPAny = "any"
	IPv4  = "ipv4"
	IPv6  = "ipv6"
)

// route is where one destination's mail goes.
type route struct {
	dest      string // the limits, rate and dead-destination key
	policy    DomainPolicy
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

// parseSmarthost checks sh. Its certificate is verified when verifyAll
// (delivery.tls: required) or credentials are set, unless
// sh.InsecureSkipVerify: a password must not go to whoever answers the
// connection with a certificate of their own.
func parseSmarthost(sh Smarthost, verifyAll bool) (smarthostRoute, error) {
	if sh.Address == "" {
		return smarthostRoute{}, nil
	}
	host, portStr, err := net.SplitHostPort(sh.Address)
	port, perr := strconv.Atoi(portStr)
	if err != nil || perr != nil || host == "" || port < 1 || port > 65535 {
		return smarthostRoute{}, fmt.Errorf("delivery: smarthost address %q is not host:port", sh.Address)
	}
	r := smarthostRoute{host: strings.ToLower(host), port: port}
	if sh.Username != "" {
		r.cred = &credentials{user: sh.Username, password: sh.Password}
	}
	verify := (verifyAll || r.cred != nil) && !sh.InsecureSkipVerify
	switch sh.TLS {
	case SmarthostSTARTTLS, "":
		r.tls = tlsPolicy{mode: tlsMust, verify: verify, roots: sh.RootCAs}
	case SmarthostImplicit:
		r.tls = tlsPolicy{mode: tlsImplicit, verify: verify, roots: sh.RootCAs}
	case SmarthostNone:
		if r.cred != nil {
			return smarthostRoute{}, errors.New("delivery: smarthost credentials need TLS (starttls or implicit); without it the password would travel in the clear")
		}
		r.tls = tlsPolicy{mode: tlsOff}
	default:
		return smarthostRoute{}, fmt.Errorf("delivery: unknown smarthost TLS mode %q", sh.TLS)
	}
	return r, nil
}

// usable reports whether addr may be connected to under Config.IPFamily
// and Config.SourceAddr (a source address only reaches its own family).
func (e *Engine) usable(addr netip.Addr) bool {
	addr = addr.Unmap()
	switch e.cfg.IPFamily {
	case IPv4:
		if !addr.Is4() {
			return false
		}
	case IPv6:
		if !addr.Is6() {
			return false
		}
	}
	src := e.cfg.SourceAddr
	return !src.IsValid() || src.Unmap().Is4() == addr.Is4()
}

// keyFor is the cache key of sessions to addr under r.
func keyFor(r route, host string, addr netip.AddrPort) connKey {
	k := connKey{addr: addr.String(), tls: r.tls}
	if r.tls.verify || r.cred != nil {
		k.host = host
	}
	return k
}
