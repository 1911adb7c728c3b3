package migrate

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/mxout/mxout/configs"
)

// tlsLevels maps smtp_tls_security_level to delivery.tls, with what
// differs.
var tlsLevels = map[string]struct {
	policy  configs.TLSPolicy
	comment string
}{
	"none":        {configs.TLSDisabled, ""},
	"may":         {configs.TLSOpportunistic, ""},
	"encrypt":     {configs.TLSRequired, "mxout's required also verifies the certificate (Postfix verify); Postfix encrypt did not"},
	"verify":      {configs.TLSRequired, ""},
	"secure":      {configs.TLSRequired, "mxout checks the MX host name, as verify does"},
	"dane":        {configs.TLSOpportunistic, "mxout has no DANE yet: opportunistic TLS, as Postfix does without TLSA records"},
	"dane-only":   {configs.TLSRequired, "mxout has no DANE yet: a verified certificate is required instead"},
	"fingerprint": {configs.TLSRequired, "mxout has no fingerprint pinning: a verified certificate is required instead"},
}

func (p *postfixImport) tlsLevel() {
	name := "smtp_tls_security_level"
	v, ok := p.value(name)
	if !ok {
		for _, legacy := range []struct{ name, level string }{{"smtp_enforce_tls", "encrypt"}, {"smtp_use_tls", "may"}} {
			if lv, set := p.value(legacy.name); set && lv == "yes" && !ok {
				name, v, ok = legacy.name, legacy.level, true
			}
		}
		if !ok {
			if !p.cf.has("smtp_tls_security_level") {
				p.d.note("smtp_tls_security_level is not set: Postfix sent without TLS; mxout uses STARTTLS when offered (delivery.tls: opportunistic).")
			}
			return
		}
	}
	l, ok := tlsLevels[v]
	if !ok {
		p.skip(name, "unknown TLS security level")
		return
	}
	comment := p.origin(name)
	if l.comment != "" {
		comment += ": " + l.comment
	}
	p.d.set(key("delivery.tls"), str(string(l.policy)), comment)
}

// relayhost maps the smarthost: "[host]:port" connects to host, "host"
// looked up its MX records (mxout connects to host itself).
func (p *postfixImport) relayhost() {
	p.used["smtp_tls_wrappermode"] = p.cf.has("smtp_tls_wrappermode")
	v, ok := p.value("relayhost")
	if !ok || v == "" {
		return
	}
	hosts := words(v)
	if len(hosts) == 0 {
		p.skip("relayhost", "no relay host in the value")
		return
	}
	first := hosts[0]
	addr, mx, err := parseRelayhost(first)
	if err != nil {
		p.skip("relayhost", err.Error())
		return
	}
	comment := p.origin("relayhost")
	if mx {
		comment += ": Postfix looked up the MX records of this name; mxout connects to the name itself (write [name] in Postfix for the same)"
	}
	if len(hosts) > 1 {
		comment += "; only the first relay is used, mxout has no fallback relays"
	}
	p.d.set(key("delivery.smarthost.address"), str(addr), comment)

	_, port, _ := net.SplitHostPort(addr)
	wrapper, _ := p.value("smtp_tls_wrappermode")
	level, _, _ := p.cf.get("smtp_tls_security_level", p.defaults)
	mode, why := configs.TLSStartTLS, "smtp_tls_security_level = "+level
	switch {
	case wrapper == "yes" || port == "465":
		mode, why = configs.TLSImplicit, "TLS from the first byte (port 465, smtp_tls_wrappermode)"
	case level == "" || level == "none":
		mode, why = configs.TLSNone, "Postfix sent to the relay without TLS; prefer starttls if it offers it"
	case level == "may" || level == "dane":
		why += ": mxout requires STARTTLS with the smarthost (set none if it has no TLS)"
	}
	p.d.set(key("delivery.smarthost.tls"), str(string(mode)), why)
	if p.credentials(first) && mode == configs.TLSNone {
		p.d.set(key("delivery.smarthost.tls"), str(string(configs.TLSStartTLS)),
			"Postfix sent AUTH without TLS; mxout sends credentials only over TLS with a verified certificate (set ca_file for a private CA)")
	}
}

// parseRelayhost turns a relayhost entry into host:port, and says
// whether Postfix looked up MX records for it (no brackets).
func parseRelayhost(s string) (addr string, mx bool, err error) {
	host, port := s, "25"
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", false, fmt.Errorf("unterminated [ in %q", s)
		}
		host = strings.TrimPrefix(s[1:end], "ipv6:")
		if rest := s[end+1:]; rest != "" {
			if !strings.HasPrefix(rest, ":") {
				return "", false, fmt.Errorf("%q: want [host]:port", s)
			}
			port = rest[1:]
		}
	} else {
		mx = true
		if h, pt, ok := strings.Cut(s, ":"); ok {
			host, port = h, pt
		}
	}
	if n, ok := servicePorts[port]; ok {
		port = n
	}
	if pn, err := strconv.Atoi(port); err != nil || pn < 1 || pn > 65535 {
		return "", false, fmt.Errorf("%q: port %q is not a number or a known service", s, port)
	}
	if !configs.IsDNSName(host) && net.ParseIP(host) == nil {
		return "", false, fmt.Errorf("%q: %q is not a host name", s, host)
	}
	return net.JoinHostPort(host, port), mx, nil
}

var servicePorts = map[string]string{"smtp": "25", "submission": "587", "smtps": "465", "submissions": "465"}

// credentials copies the relay's user and password from the text source
// of a hash:/lmdb:/texthash: smtp_sasl_password_maps, when it can be read,
// and reports whether it did.
func (p *postfixImport) credentials(relay string) bool {
	if v, _ := p.value("smtp_sasl_auth_enable"); v != "yes" {
		return false
	}
	maps, ok := p.value("smtp_sasl_password_maps")
	if !ok || maps == "" {
		return false
	}
	how := "copy the user and password for " + relay + " from " + maps + " into delivery.smarthost.username and password"
	var path string
	if ws := words(maps); len(ws) > 0 {
		_, path, ok = strings.Cut(ws[0], ":")
	}
	if !ok || !strings.HasPrefix(path, "/") {
		p.d.note("smtp_sasl_password_maps: %s.", how)
		p.used["smtp_sasl_password_maps"] = true
		return false
	}
	text, err := p.readFile(path)
	if err != nil {
		p.d.note("smtp_sasl_password_maps: %s (%v).", how, err)
		return false
	}
	for _, line := range strings.Split(string(text), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 || f[0] != relay {
			continue
		}
		user, pass, ok := strings.Cut(f[1], ":")
		if !ok || user == "" || pass == "" {
			break
		}
		p.d.set(key("delivery.smarthost.username"), str(user), "from "+path+" (smtp_sasl_password_maps)")
		p.d.set(key("delivery.smarthost.password"), str(pass), "keep this file private, or set MXOUT_DELIVERY_SMARTHOST_PASSWORD instead")
		return true
	}
	p.d.note("smtp_sasl_password_maps: %s (no \"%s user:password\" line in %s).", how, relay, path)
	return false
}
