package migrate

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Postfix turns a main.cf (or `postconf -n` output) into mxout YAML.
// source names the input in the header comment; read opens the files
// main.cf refers to (myorigin = /etc/mailname, the text source of
// smtp_sasl_password_maps), nil reads none.
func Postfix(mainCF []byte, source string, read ReadFile) []byte {
	p := &postfixImport{
		cf:   parseMainCF(string(mainCF)),
		used: map[string]bool{},
		read: read,
		d: newDoc("mxout configuration imported from "+source+" by `mxout import postfix`.",
			"Review it, merge it into /etc/mxout/mxout.yaml and run `mxout config check`."),
	}
	p.defaults = postfixDefaults(p.cf)
	p.hostname()
	p.networks()
	p.messageSize()
	p.simple()
	p.concurrency()
	p.backoff()
	p.tlsLevel()
	p.relayhost()
	p.misc()
	p.leftovers()
	return p.d.bytes()
}

type postfixImport struct {
	cf       *mainCF
	defaults map[string]string
	d        *doc
	used     map[string]bool
	read     ReadFile
}

// postfixDefaults are the built-in values of the parameters this importer
// reads, for $name references and unset parameters (postconf(5)).
func postfixDefaults(cf *mainCF) map[string]string {
	d := map[string]string{
		"mail_name":                             "Postfix",
		"config_directory":                      "/etc/postfix",
		"myorigin":                              "$myhostname",
		"smtp_helo_name":                        "$myhostname",
		"minimal_backoff_time":                  "300s",
		"maximal_backoff_time":                  "4000s",
		"default_destination_concurrency_limit": "20",
		"smtp_destination_concurrency_limit":    "$default_destination_concurrency_limit",
		"default_destination_recipient_limit":   "50",
		"smtp_destination_recipient_limit":      "$default_destination_recipient_limit",
	}
	if h, ok := cf.values["myhostname"]; ok && !cf.has("mydomain") {
		if _, dom, ok := strings.Cut(h, "."); ok && !strings.Contains(h, "$") {
			d["mydomain"] = dom
		}
	}
	return d
}

// value is a parameter's expanded value, marking it used. ok is false when
// the file does not set it (or it cannot be expanded, which is noted).
func (p *postfixImport) value(name string) (string, bool) {
	if !p.cf.has(name) {
		return "", false
	}
	p.used[name] = true
	v, _, err := p.cf.get(name, p.defaults)
	if err != nil {
		p.d.skip(p.origin(name), err.Error())
		return "", false
	}
	return v, true
}

// origin is the comment naming where a value came from.
func (p *postfixImport) origin(name string) string {
	return name + " = " + p.cf.values[name]
}

func (p *postfixImport) skip(name, why string) {
	p.d.skip(p.origin(name), why)
}

func (p *postfixImport) hostname() {
	if v, ok := p.value("myhostname"); ok {
		if isHostName(v) {
			p.d.set(key("hostname"), str(v), p.origin("myhostname"))
		} else {
			p.skip("myhostname", "not a host name")
		}
	}
	v, ok := p.value("myorigin")
	if !ok {
		return
	}
	if strings.HasPrefix(v, "/") {
		text, err := p.readFile(v)
		if err != nil {
			p.skip("myorigin", err.Error())
			return
		}
		v = strings.TrimSpace(strings.SplitN(string(text), "\n", 2)[0])
	}
	if isHostName(v) {
		p.d.set(key("sendmail.domain"), str(v), p.origin("myorigin")+" (for `mxout sendmail`)")
	} else {
		p.skip("myorigin", "not a domain name")
	}
}

func (p *postfixImport) readFile(name string) ([]byte, error) {
	if p.read == nil {
		return nil, fmt.Errorf("%s was not read", name)
	}
	b, err := p.read(name)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return b, nil
}

// networks maps mynetworks; entries other than addresses and CIDRs
// (tables, files, host names, negations) are listed as not imported.
func (p *postfixImport) networks() {
	v, ok := p.value("mynetworks")
	if !ok {
		if !p.cf.has("mynetworks") {
			p.d.note("mynetworks is not set: Postfix trusted the networks of mynetworks_style (default: this host's subnets); mxout trusts loopback only (submission.trusted_networks).")
		}
		return
	}
	var nets, skipped []string
	for _, w := range words(v) {
		n := strings.Replace(strings.Replace(w, "[", "", 1), "]", "", 1)
		if _, err := netip.ParsePrefix(n); err == nil {
			nets = append(nets, n)
		} else if _, err := netip.ParseAddr(n); err == nil {
			nets = append(nets, n)
		} else {
			skipped = append(skipped, w)
		}
	}
	if len(nets) > 0 {
		p.d.set(key("submission.trusted_networks"), list(nets), p.origin("mynetworks"))
	}
	if len(skipped) > 0 {
		p.d.skip("mynetworks entries "+strings.Join(skipped, " "), "only addresses and networks are imported; add the networks behind tables, files and host names to submission.trusted_networks by hand")
	}
}

// messageSize maps message_size_limit, and makes the queue's value-log
// files large enough for it (they must hold two messages).
func (p *postfixImport) messageSize() {
	v, ok := p.value("message_size_limit")
	if !ok {
		return
	}
	n, err := strconv.ParseInt(v, 10, 64)
	switch {
	case err != nil:
		p.skip("message_size_limit", "not a number")
		return
	case n == 0:
		p.skip("message_size_limit", "0 (no limit) has no equivalent: mxout always has one (submission.max_message_bytes, default 10240000)")
		return
	case n < 1024 || n >= 1023<<20:
		p.skip("message_size_limit", "mxout takes 1024 bytes to 1023MiB")
		return
	}
	p.d.set(key("submission.max_message_bytes"), num(n), p.origin("message_size_limit"))
	if 2*n >= 64<<20 {
		mib := (2*n)>>20 + 1
		p.d.set(key("queue.badger.value_log_file_bytes"), str(fmt.Sprintf("%dMiB", mib)), "must be more than twice submission.max_message_bytes")
	}
}

// simpleParam is a Postfix parameter that maps to one mxout key.
type simpleParam struct {
	name, key string
	unit      byte  // a time value in this default unit; 0: a number
	min       int64 // the smallest value mxout takes (seconds for times)
}

var simpleParams = []simpleParam{
	{name: "smtpd_recipient_limit", key: "submission.max_recipients", min: 1},
	{name: "smtpd_hard_error_limit", key: "submission.max_errors", min: 1},
	{name: "smtp_connection_cache_time_limit", key: "delivery.connection_idle_timeout", unit: 's'},
	{name: "maximal_queue_lifetime", key: "delivery.retry.max_lifetime", unit: 'd', min: 1},
	{name: "delay_warning_time", key: "delivery.retry.delay_notice_after", unit: 'h'},
	{name: "smtp_connect_timeout", key: "delivery.timeouts.connect", unit: 's', min: 1},
	{name: "smtp_helo_timeout", key: "delivery.timeouts.helo", unit: 's', min: 1},
	{name: "smtp_mail_timeout", key: "delivery.timeouts.mail", unit: 's', min: 1},
	{name: "smtp_rcpt_timeout", key: "delivery.timeouts.rcpt", unit: 's', min: 1},
	{name: "smtp_data_init_timeout", key: "delivery.timeouts.data_init", unit: 's', min: 1},
	{name: "smtp_data_xfer_timeout", key: "delivery.timeouts.data_block", unit: 's', min: 1},
	{name: "smtp_data_done_timeout", key: "delivery.timeouts.data_done", unit: 's', min: 1},
	{name: "smtp_rset_timeout", key: "delivery.timeouts.rset", unit: 's', min: 1},
	{name: "bounce_size_limit", key: "dsn.max_original_bytes"},
}

func (p *postfixImport) simple() {
	for _, s := range simpleParams {
		v, ok := p.value(s.name)
		if !ok {
			continue
		}
		if s.unit == 0 {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < s.min {
				p.skip(s.name, fmt.Sprintf("%s takes a number of at least %d", s.key, s.min))
				continue
			}
			p.d.set(key(s.key), num(n), p.origin(s.name))
			continue
		}
		d, err := parseTime(v, s.unit)
		if err == nil && d < time.Duration(s.min)*time.Second {
			if s.name == "maximal_queue_lifetime" {
				p.d.set(key(s.key), str("1s"), p.origin(s.name)+": no retries (mxout needs a positive lifetime)")
				continue
			}
			err = fmt.Errorf("%s must be at least %ds", s.key, s.min)
		}
		if err != nil {
			p.skip(s.name, err.Error())
			continue
		}
		p.d.set(key(s.key), str(formatDuration(d)), p.origin(s.name))
	}
	if p.cf.has("bounce_queue_lifetime") {
		p.used["bounce_queue_lifetime"] = true
		p.skip("bounce_queue_lifetime", "mxout retries bounces like other mail, up to delivery.retry.max_lifetime")
	}
}

// concurrency maps the destination limits of the smtp transport, which
// default to the default_destination_* ones.
func (p *postfixImport) concurrency() {
	for _, c := range []struct{ specific, general, key string }{
		{"smtp_destination_concurrency_limit", "default_destination_concurrency_limit", "delivery.max_connections_per_domain"},
		{"smtp_destination_recipient_limit", "default_destination_recipient_limit", "delivery.max_recipients_per_transaction"},
	} {
		name := c.specific
		if !p.cf.has(name) {
			name = c.general
		}
		p.used[c.general] = p.used[c.general] || p.cf.has(c.general)
		v, ok := p.value(name)
		if !ok {
			continue
		}
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 1 {
			p.d.set(key(c.key), num(n), p.origin(name))
		} else {
			p.skip(name, "not a number of at least 1")
		}
	}
}

// backoff maps minimal_backoff_time and maximal_backoff_time together:
// mxout needs max_interval >= initial, so both are written when either is
// set, the other from Postfix's default.
func (p *postfixImport) backoff() {
	if !p.cf.has("minimal_backoff_time") && !p.cf.has("maximal_backoff_time") {
		return
	}
	get := func(name string) (time.Duration, string, bool) {
		p.used[name] = p.cf.has(name)
		v, _, err := p.cf.get(name, p.defaults)
		if err == nil {
			var d time.Duration
			if d, err = parseTime(v, 's'); err == nil && d >= time.Second {
				if p.cf.has(name) {
					return d, p.origin(name), true
				}
				return d, name + " = " + v + " (Postfix default)", true
			}
		}
		p.skip(name, "not a time value of at least 1s")
		return 0, "", false
	}
	lo, loFrom, ok1 := get("minimal_backoff_time")
	hi, hiFrom, ok2 := get("maximal_backoff_time")
	if !ok1 || !ok2 {
		return
	}
	if hi < lo {
		hi, hiFrom = lo, hiFrom+"; raised to the minimal backoff, as mxout requires"
	}
	p.d.set(key("delivery.retry.initial"), str(formatDuration(lo)), loFrom)
	p.d.set(key("delivery.retry.max_interval"), str(formatDuration(hi)), hiFrom)
}

// tlsLevels maps smtp_tls_security_level to delivery.tls, with what
// differs.
var tlsLevels = map[string]struct{ policy, comment string }{
	"none":        {"disabled", ""},
	"may":         {"opportunistic", ""},
	"encrypt":     {"required", "mxout's required also verifies the certificate (Postfix verify); Postfix encrypt did not"},
	"verify":      {"required", ""},
	"secure":      {"required", "mxout checks the MX host name, as verify does"},
	"dane":        {"opportunistic", "mxout has no DANE yet: opportunistic TLS, as Postfix does without TLSA records"},
	"dane-only":   {"required", "mxout has no DANE yet: a verified certificate is required instead"},
	"fingerprint": {"required", "mxout has no fingerprint pinning: a verified certificate is required instead"},
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
	p.d.set(key("delivery.tls"), str(l.policy), comment)
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
	switch {
	case wrapper == "yes" || port == "465":
		p.d.set(key("delivery.smarthost.tls"), str("implicit"), "TLS from the first byte (port 465, smtp_tls_wrappermode)")
	case level == "" || level == "none":
		p.d.set(key("delivery.smarthost.tls"), str("none"), "Postfix sent to the relay without TLS; prefer starttls if it offers it")
	case level == "may" || level == "dane":
		p.d.set(key("delivery.smarthost.tls"), str("starttls"), "smtp_tls_security_level = "+level+": mxout requires STARTTLS with the smarthost (set none if it has no TLS)")
	default:
		p.d.set(key("delivery.smarthost.tls"), str("starttls"), "smtp_tls_security_level = "+level)
	}
	p.credentials(first)
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
	if !isHostName(host) && net.ParseIP(host) == nil {
		return "", false, fmt.Errorf("%q: %q is not a host name", s, host)
	}
	return net.JoinHostPort(host, port), mx, nil
}

var servicePorts = map[string]string{"smtp": "25", "submission": "587", "smtps": "465", "submissions": "465"}

// credentials copies the relay's user and password from the text source
// of a hash:/lmdb:/texthash: smtp_sasl_password_maps, when it can be read.
func (p *postfixImport) credentials(relay string) {
	if v, _ := p.value("smtp_sasl_auth_enable"); v != "yes" {
		return
	}
	maps, ok := p.value("smtp_sasl_password_maps")
	if !ok || maps == "" {
		return
	}
	how := "copy the user and password for " + relay + " from " + maps + " into delivery.smarthost.username and password"
	_, path, ok := strings.Cut(words(maps)[0], ":")
	if !ok || !strings.HasPrefix(path, "/") {
		p.d.note("smtp_sasl_password_maps: %s.", how)
		p.used["smtp_sasl_password_maps"] = true
		return
	}
	text, err := p.readFile(path)
	if err != nil {
		p.d.note("smtp_sasl_password_maps: %s (%v).", how, err)
		return
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
		return
	}
	p.d.note("smtp_sasl_password_maps: %s (no \"%s user:password\" line in %s).", how, relay, path)
}

// misc maps the HELO name, the source address and the IP families.
func (p *postfixImport) misc() {
	if v, ok := p.value("smtp_helo_name"); ok && isHostName(v) {
		p.d.set(key("delivery.helo_name"), str(v), p.origin("smtp_helo_name"))
	} else if ok {
		p.skip("smtp_helo_name", "not a host name")
	}
	family := ""
	if v, ok := p.value("inet_protocols"); ok {
		switch ws := words(v); {
		case len(ws) == 1 && ws[0] == "ipv4":
			family = "ipv4"
		case len(ws) == 1 && ws[0] == "ipv6":
			family = "ipv6"
		}
		if family != "" {
			p.d.set(key("delivery.ip_family"), str(family), p.origin("inet_protocols"))
		}
	}
	for _, name := range []string{"smtp_bind_address", "smtp_bind_address6"} {
		v, ok := p.value(name)
		if !ok || v == "" {
			continue
		}
		a, err := netip.ParseAddr(v)
		if err != nil || family == "ipv4" && !a.Is4() || family == "ipv6" && a.Is4() {
			p.skip(name, "not an address of delivery.ip_family")
			continue
		}
		p.d.set(key("delivery.source_address"), str(v), p.origin(name)+": mxout has one source address")
		break
	}
}

// postfixNotes say where mxout does the job of a setting it does not
// import; matched by name, then by prefix.
var postfixNotes = []struct{ prefix, note string }{
	{"mydestination", "mxout delivers no local mail; it is never the final destination"},
	{"alias_", "mxout delivers no local mail (for `mxout sendmail`, see sendmail.aliases)"},
	{"mailbox_", "mxout delivers no local mail"},
	{"home_mailbox", "mxout delivers no local mail"},
	{"local_", "mxout delivers no local mail"},
	{"inet_interfaces", "mxout listens on submission.listeners (default 127.0.0.1:2525)"},
	{"smtpd_relay_restrictions", "relaying is allowed to submission.trusted_networks and submission.users"},
	{"smtpd_recipient_restrictions", "relaying is allowed to submission.trusted_networks and submission.users"},
	{"smtpd_sender_restrictions", "authenticated senders are limited by submission.users[].allowed_senders"},
	{"smtpd_sasl_", "AUTH accounts are submission.users (`mxout passwd` makes the hash)"},
	{"smtpd_tls_", "a starttls or implicit listener uses submission.tls.cert_file and key_file"},
	{"smtpd_use_tls", "a starttls or implicit listener uses submission.tls.cert_file and key_file"},
	{"smtpd_milters", "mxout signs DKIM itself: dkim.domains (see `mxout import opendkim`)"},
	{"non_smtpd_milters", "mxout signs DKIM itself: dkim.domains (see `mxout import opendkim`)"},
	{"milter_", "mxout signs DKIM itself: dkim.domains (see `mxout import opendkim`)"},
	{"transport_maps", "mxout delivers by MX, or everything through delivery.smarthost; per-domain shaping is delivery.domains"},
	{"relay_domains", "mxout relays for its clients to any domain"},
	{"smtp_tls_", "outbound TLS is delivery.tls (per domain: delivery.domains.<name>.tls)"},
	{"smtp_sasl_", "smarthost credentials are delivery.smarthost.username and password"},
	{"smtpd_banner", "the greeting names hostname"},
	{"queue_directory", "the queue is in data_dir"},
	{"data_directory", "the queue is in data_dir"},
	{"notify_classes", "bounces go to the sender; dsn.postmaster gets reports about failed bounces"},
	{"2bounce_notice_recipient", "dsn.postmaster gets reports about failed bounces"},
}

// leftovers lists every setting of the file that was not imported.
func (p *postfixImport) leftovers() {
	for _, name := range p.cf.order {
		if p.used[name] || p.cf.referenced[name] {
			continue
		}
		why := "no equivalent in mxout"
		for _, n := range postfixNotes {
			if strings.HasPrefix(name, n.prefix) {
				why = n.note
				break
			}
		}
		p.d.skip(p.origin(name), why)
	}
	for _, b := range p.cf.bad {
		p.d.skip(b, "ignored")
	}
}

// isHostName reports whether s is a DNS host name (letters, digits, '-',
// '_', dots).
func isHostName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !isAlnum(c) && c != '-' && c != '_' {
				return false
			}
		}
	}
	return true
}
