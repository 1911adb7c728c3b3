package migrate

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/mxout/mxout/configs"
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
		if configs.IsDNSName(v) {
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
	if configs.IsDNSName(v) {
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

// misc maps the HELO name, the source address and the IP families.
func (p *postfixImport) misc() {
	if v, ok := p.value("smtp_helo_name"); ok && configs.IsDNSName(v) {
		p.d.set(key("delivery.helo_name"), str(v), p.origin("smtp_helo_name"))
	} else if ok {
		p.skip("smtp_helo_name", "not a host name")
	}
	var family configs.IPFamily
	if v, ok := p.value("inet_protocols"); ok {
		if ws := words(v); len(ws) == 1 && (ws[0] == string(configs.IPv4) || ws[0] == string(configs.IPv6)) {
			family = configs.IPFamily(ws[0])
			p.d.set(key("delivery.ip_family"), str(ws[0]), p.origin("inet_protocols"))
		}
	}
	for _, name := range []string{"smtp_bind_address", "smtp_bind_address6"} {
		v, ok := p.value(name)
		if !ok || v == "" {
			continue
		}
		a, err := netip.ParseAddr(v)
		if err != nil || family != "" && !family.Allows(a) {
			p.skip(name, "not an address of delivery.ip_family")
			continue
		}
		p.d.set(key("delivery.source_address"), str(v), p.origin(name)+": mxout has one source address")
		break
	}
}
