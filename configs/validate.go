package configs

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/mxout/mxout/internal/dnsname"
)

// Validate checks every key and returns one error per bad key, each naming
// the key and the bad value.
func (c *Config) Validate() error { return joinProblems(c.problems(), origins{}) }

// problems checks every key: one fieldError per bad key.
func (c *Config) problems() []fieldError {
	v := &validator{}
	v.check(IsDNSName(c.Hostname), "hostname", c.Hostname, "must be a host name")
	v.check(c.DataDir != "", "data_dir", c.DataDir, "must not be empty")
	c.Submission.validate(v)
	c.Delivery.validate(v)
	c.Queue.validate(v, c.Submission.MaxMessageBytes)
	v.check(c.Resolver.Timeout > 0, "resolver.timeout", c.Resolver.Timeout, "must be positive")
	c.Metrics.validate(v)
	v.check(c.Admin.Listen.IsZero() || c.Admin.Listen.IsLoopback() || c.Admin.Token != "",
		"admin.listen", c.Admin.Listen, "is not a loopback address: set admin.token too, or the queue API would be open to the network")
	v.check(c.DSN.Postmaster == "" || strings.Contains(c.DSN.Postmaster, "@") && !strings.ContainsAny(c.DSN.Postmaster, " \t<>"), "dsn.postmaster", c.DSN.Postmaster, "must be an address or empty")
	v.check(c.DSN.MaxOriginalBytes >= 0, "dsn.max_original_bytes", c.DSN.MaxOriginalBytes, "must not be negative")
	v.check(c.Log.Level != "", "log.level", c.Log.Level, "must be one of debug, info, warn, error")
	v.check(c.Log.Format != "", "log.format", c.Log.Format, "must be one of text, json")
	c.DKIM.validate(v)
	c.Sendmail.validate(v)
	c.API.validate(v)
	c.Events.validate(v)
	c.Webhooks.validate(v)
	c.validateListenerConflicts(v)
	// Left empty, these take hostname's value: one error for it is enough.
	v.dropInherited("hostname", c.Hostname, "delivery.helo_name", "sendmail.domain")
	return v.errs
}

func (s *Submission) validate(v *validator) {
	v.check(len(s.Listeners) > 0, "submission.listeners", s.Listeners, "needs at least one listener")
	needCert := false
	for i, l := range s.Listeners {
		key := fmt.Sprintf("submission.listeners[%d]", i)
		v.check(!l.Address.IsZero(), key+".address", l.Address, "must be host:port")
		v.check(l.TLS != "", key+".tls", l.TLS, "must be one of none, starttls, implicit")
		needCert = needCert || l.TLS == TLSStartTLS || l.TLS == TLSImplicit
	}
	if needCert {
		v.check(s.TLS.CertFile != "", "submission.tls.cert_file", s.TLS.CertFile, "is required by a starttls or implicit listener")
		v.check(s.TLS.KeyFile != "", "submission.tls.key_file", s.TLS.KeyFile, "is required by a starttls or implicit listener")
	}
	v.check(s.MaxMessageBytes >= 1024, "submission.max_message_bytes", s.MaxMessageBytes, "must be at least 1024")
	v.check(s.MaxRecipients >= 1, "submission.max_recipients", s.MaxRecipients, "must be at least 1")
	validateUsers(v, "submission.users", s.Users)
	v.check(s.TLS.WatchInterval == 0 || s.TLS.WatchInterval >= time.Second, "submission.tls.watch_interval", s.TLS.WatchInterval, "must be 0 (SIGHUP only) or at least 1s")
	v.check(s.ReadTimeout > 0, "submission.read_timeout", s.ReadTimeout, "must be positive")
	v.check(s.WriteTimeout > 0, "submission.write_timeout", s.WriteTimeout, "must be positive")
	v.check(s.DataTimeout > 0, "submission.data_timeout", s.DataTimeout, "must be positive")
	v.check(s.SessionTimeout >= s.ReadTimeout, "submission.session_timeout", s.SessionTimeout, "must be at least submission.read_timeout")
	v.check(s.MaxLineLength >= 1000, "submission.max_line_length", s.MaxLineLength, "must be at least 1000 (RFC 5321)")
	v.check(s.MaxErrors >= 1, "submission.max_errors", s.MaxErrors, "must be at least 1")
	v.check(s.MaxConnections >= 1, "submission.max_connections", s.MaxConnections, "must be at least 1")
	v.check(s.MaxConnectionsPerIP >= 1 && s.MaxConnectionsPerIP <= s.MaxConnections, "submission.max_connections_per_ip", s.MaxConnectionsPerIP, "must be between 1 and submission.max_connections")
	v.check(s.PreAuthTimeout > 0, "submission.pre_auth_timeout", s.PreAuthTimeout, "must be positive")
	r := s.RateLimit
	v.check(r.Window >= time.Second, "submission.rate_limit.window", r.Window, "must be at least 1s")
	v.check(r.MessagesPerUser >= 0, "submission.rate_limit.messages_per_user", r.MessagesPerUser, "must be 0 (no limit) or positive")
	v.check(r.MessagesPerIP >= 0, "submission.rate_limit.messages_per_ip", r.MessagesPerIP, "must be 0 (no limit) or positive")
	a := s.AuthThrottle
	v.check(a.Window >= time.Second, "submission.auth_throttle.window", a.Window, "must be at least 1s")
	v.check(a.MaxFailuresPerIP >= 1, "submission.auth_throttle.max_failures_per_ip", a.MaxFailuresPerIP, "must be at least 1")
	v.check(a.MaxFailuresPerUser >= 1, "submission.auth_throttle.max_failures_per_user", a.MaxFailuresPerUser, "must be at least 1")
	v.check(a.MaxFailuresPerSession >= 1, "submission.auth_throttle.max_failures_per_session", a.MaxFailuresPerSession, "must be at least 1")
	v.check(a.Delay >= 0 && a.Delay <= time.Minute, "submission.auth_throttle.delay", a.Delay, "must be between 0 and 1m")
}

func (t *TLSReporting) validate(v *validator) {
	v.check(t.Interval >= time.Second, "delivery.tls_reporting.interval", t.Interval, "must be at least 1s")
	v.check(len(t.Organization) <= 200 && !strings.ContainsAny(t.Organization, "\r\n"), "delivery.tls_reporting.organization", t.Organization, "must be one line of at most 200 characters")
	v.check(t.Contact == "" || strings.Count(t.Contact, "@") == 1 && !strings.ContainsAny(t.Contact, " \t\r\n<>\",;"), "delivery.tls_reporting.contact", t.Contact, "must be an address or empty")
}

func (d *Delivery) validate(v *validator) {
	v.check(d.Workers >= 1 && d.Workers <= 10000, "delivery.workers", d.Workers, "must be between 1 and 10000")
	v.check(d.Port >= 1 && d.Port <= 65535, "delivery.port", d.Port, "must be a TCP port (1-65535)")
	v.check(d.HeloName != "" && !strings.ContainsAny(d.HeloName, " \t\r\n"), "delivery.helo_name", d.HeloName, "must be a host name")
	v.check(d.MaxConnectionsPerDomain >= 1, "delivery.max_connections_per_domain", d.MaxConnectionsPerDomain, "must be at least 1")
	v.check(d.MaxRecipientsPerTransaction >= 1, "delivery.max_recipients_per_transaction", d.MaxRecipientsPerTransaction, "must be at least 1")
	v.check(d.MaxMessagesPerConnection >= 1, "delivery.max_messages_per_connection", d.MaxMessagesPerConnection, "must be at least 1 (1 disables reuse)")
	v.check(d.MaxMXAddresses >= 0, "delivery.max_mx_addresses", d.MaxMXAddresses, "must be 0 (no limit) or positive")
	v.check(d.MaxMXSessions >= 0, "delivery.max_mx_sessions", d.MaxMXSessions, "must be 0 (no limit) or positive")
	v.check(d.ConnectionIdleTimeout >= 0, "delivery.connection_idle_timeout", d.ConnectionIdleTimeout, "must be 0 (no reuse) or positive")
	v.check(d.IPFamily != "", "delivery.ip_family", d.IPFamily, "must be one of any, ipv4, ipv6")
	if a := d.SourceAddress; a.IsValid() {
		v.check(a.Zone() == "", "delivery.source_address", a, "must be an IP address or empty")
		v.check(d.IPFamily != IPv4 || a.Unmap().Is4(), "delivery.source_address", a, "is IPv6, but delivery.ip_family is ipv4")
		v.check(d.IPFamily != IPv6 || !a.Unmap().Is4(), "delivery.source_address", a, "is IPv4, but delivery.ip_family is ipv6")
	}
	v.check(d.TLS != "", "delivery.tls", d.TLS, "must be one of opportunistic, required, disabled")
	d.TLSReporting.validate(v)
	for _, name := range slices.Sorted(maps.Keys(d.Domains)) {
		p := d.Domains[name]
		key := "delivery.domains." + name
		v.check(isDomainName(name), key, name, "must be a domain name")
		v.check(p.MaxConnections >= 0, key+".max_connections", p.MaxConnections, "must be 0 (inherit) or positive")
		v.check(p.MaxMessagesPerConnection >= 0, key+".max_messages_per_connection", p.MaxMessagesPerConnection, "must be 0 (inherit) or positive")
	}
	v.check(d.DeadDestination.Failures >= 0, "delivery.dead_destination.failures", d.DeadDestination.Failures, "must be 0 (off) or positive")
	v.check(d.DeadDestination.Hold > 0, "delivery.dead_destination.hold", d.DeadDestination.Hold, "must be positive")
	if sh := d.Smarthost; !sh.Address.IsZero() {
		v.check(sh.Address.Host != "" && sh.Address.Port != 0, "delivery.smarthost.address", sh.Address, "must be host:port with a host and a port from 1 to 65535")
		v.check(sh.TLS != "", "delivery.smarthost.tls", sh.TLS, "must be one of starttls, implicit, none")
		v.check((sh.Username == "") == (sh.Password == ""), "delivery.smarthost.username", sh.Username, "and delivery.smarthost.password must be set together")
		v.check(sh.Username == "" || sh.TLS != TLSNone, "delivery.smarthost.tls", sh.TLS,
			"must be starttls or implicit when delivery.smarthost.username is set: credentials are sent only over TLS with a verified certificate")
	}
	r := d.Retry
	v.check(r.Initial > 0, "delivery.retry.initial", r.Initial, "must be positive")
	v.check(r.Multiplier >= 1, "delivery.retry.multiplier", r.Multiplier, "must be at least 1")
	v.check(r.MaxInterval >= r.Initial, "delivery.retry.max_interval", r.MaxInterval, "must be at least delivery.retry.initial")
	v.check(r.Jitter >= 0 && r.Jitter <= 1, "delivery.retry.jitter", r.Jitter, "must be between 0 and 1")
	v.check(r.MaxLifetime > 0, "delivery.retry.max_lifetime", r.MaxLifetime, "must be positive")
	v.check(r.DelayNoticeAfter >= 0, "delivery.retry.delay_notice_after", r.DelayNoticeAfter, "must be 0 (off) or positive")
	t := d.Timeouts
	for _, x := range []struct {
		key string
		d   time.Duration
	}{
		{"connect", t.Connect}, {"greeting", t.Greeting}, {"helo", t.Helo}, {"mail", t.Mail}, {"rcpt", t.Rcpt},
		{"data_init", t.DataInit}, {"data_block", t.DataBlock}, {"data_done", t.DataDone}, {"rset", t.Rset},
		{"attempt", t.Attempt},
	} {
		v.check(x.d > 0, "delivery.timeouts."+x.key, x.d, "must be positive")
	}
	v.check(d.ShutdownTimeout > 0, "delivery.shutdown_timeout", d.ShutdownTimeout, "must be positive")
}

func (m *Metrics) validate(v *validator) {
	v.check(len(m.Domains) <= MaxMetricsDomains, "metrics.domains", len(m.Domains), fmt.Sprintf("must list at most %d domains (each adds series to every scrape)", MaxMetricsDomains))
	seen := map[string]bool{}
	for i, d := range m.Domains {
		key := fmt.Sprintf("metrics.domains[%d]", i)
		v.check(isDomainName(d), key, d, "must be a lowercase domain name")
		v.check(d != "other", key, d, `must not be "other", the label of every domain not listed`)
		v.check(!seen[d], key, d, "is listed twice")
		seen[d] = true
	}
}

// isDomainName accepts a lowercase DNS name such as example.com (viper
// lowercases map keys; domains are case-insensitive anyway): a name
// dnsname.Valid takes, without capitals or a label that starts or ends
// with '-'.
func isDomainName(s string) bool {
	if !dnsname.Valid(s) || s != strings.ToLower(s) {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return false
		}
	}
	return true
}

func (q *Queue) validate(v *validator, maxMessage ByteSize) {
	v.check(q.MinFreeBytes > 0, "queue.min_free_bytes", q.MinFreeBytes, "must be positive (0 means automatic)")
	v.check(q.GCInterval >= time.Second, "queue.gc_interval", q.GCInterval, "must be at least 1s")
	v.check(q.LeaseDuration >= time.Second, "queue.lease_duration", q.LeaseDuration, "must be at least 1s")
	b := q.Badger
	v.check(b.MemtableBytes >= 1<<20, "queue.badger.memtable_bytes", b.MemtableBytes, "must be at least 1MiB")
	v.check(b.NumMemtables >= 1, "queue.badger.num_memtables", b.NumMemtables, "must be at least 1")
	v.check(b.BlockCacheBytes >= 0, "queue.badger.block_cache_bytes", b.BlockCacheBytes, "must not be negative")
	v.check(b.IndexCacheBytes >= 0, "queue.badger.index_cache_bytes", b.IndexCacheBytes, "must not be negative")
	v.check(b.ValueLogFileBytes >= 1<<20 && b.ValueLogFileBytes < 2<<30, "queue.badger.value_log_file_bytes", b.ValueLogFileBytes, "must be between 1MiB and 2GiB")
	v.check(b.ValueLogFileBytes > 2*maxMessage, "queue.badger.value_log_file_bytes", b.ValueLogFileBytes, "must be more than twice submission.max_message_bytes")
	v.check(b.ValueThreshold >= 64 && b.ValueThreshold <= 1<<20, "queue.badger.value_threshold", b.ValueThreshold, "must be between 64 and 1MiB")
}

// validateUsers checks a list of users; prefix names the list in errors.
func validateUsers(v *validator, prefix string, users []User) {
	seen := map[string]bool{}
	for i, u := range users {
		key := fmt.Sprintf("%s[%d]", prefix, i)
		v.check(u.Username != "", key+".username", u.Username, "must not be empty")
		v.check(!seen[u.Username], key+".username", u.Username, "is listed twice")
		seen[u.Username] = true
		v.check(strings.HasPrefix(u.PasswordHash, "$2"), key+".password_hash", "(hidden)", "must be a bcrypt hash (make one with `mxout passwd`)")
		for j, p := range u.AllowedSenders {
			v.check(validSenderPattern(p), fmt.Sprintf("%s.allowed_senders[%d]", key, j), p, `must be "*", "*@domain" or an address`)
		}
	}
}

// validSenderPattern accepts "*", "*@domain" and "local@domain".
func validSenderPattern(p string) bool {
	if p == "*" {
		return true
	}
	at := strings.LastIndexByte(p, '@')
	return at >= 1 && at < len(p)-1 && !strings.ContainsAny(p, " \t<>")
}

// validator collects one error per failed check.
type validator struct{ errs []fieldError }

// fieldError is one key whose value breaks a rule.
type fieldError struct {
	key string
	// value is the bad value, or noValue when rule shows it (or there is
	// none to show).
	value any
	rule  string
	// unknown marks a key the schema does not have.
	unknown bool
	// where is the file's line or the variable the value came from.
	where string
}

// noValue is the value of a fieldError whose rule shows the value.
var noValue = struct{ none bool }{true}

func (e fieldError) Error() string {
	var b strings.Builder
	switch {
	case e.unknown:
		fmt.Fprintf(&b, "unknown key %s", e.key)
	case e.key == "":
		b.WriteString(e.rule)
	default:
		fmt.Fprintf(&b, "%s: %s", e.key, e.rule)
	}
	switch {
	case e.value != noValue && e.where != "":
		fmt.Fprintf(&b, " (got %v, %s)", printable(e.value), e.where)
	case e.value != noValue:
		fmt.Fprintf(&b, " (got %v)", printable(e.value))
	case e.where != "":
		fmt.Fprintf(&b, " (%s)", e.where)
	}
	return b.String()
}

// joinProblems is one error with a line per problem, each saying where
// its value came from.
func joinProblems(problems []fieldError, from origins) error {
	errs := make([]error, len(problems))
	for i, p := range problems {
		if p.key != "" && !strings.HasPrefix(p.key, EnvPrefix+"_") {
			p.where = from.where(p.key)
		}
		errs[i] = p
	}
	return errors.Join(errs...)
}

func (v *validator) check(ok bool, key string, value any, rule string) {
	if !ok {
		v.errs = append(v.errs, fieldError{key: key, value: value, rule: rule})
	}
}

// dropInherited forgets the errors of keys that merely inherited a bad
// value from the key source (fillDerived), which is reported itself.
func (v *validator) dropInherited(source string, value any, keys ...string) {
	if !slices.ContainsFunc(v.errs, func(e fieldError) bool { return e.key == source }) {
		return
	}
	v.errs = slices.DeleteFunc(v.errs, func(e fieldError) bool {
		return slices.Contains(keys, e.key) && e.value == value
	})
}

func (v *validator) oneOf(key, value string, allowed ...string) {
	for _, a := range allowed {
		if value == a {
			return
		}
	}
	v.check(false, key, value, "must be one of "+strings.Join(allowed, ", "))
}

func (v *validator) err() error { return joinProblems(v.errs, origins{}) }

func printable(value any) any {
	switch s := value.(type) {
	case string, TLSPolicy, TLSMode, IPFamily, LogLevel, LogFormat:
		return fmt.Sprintf("%q", s)
	case HostPort, Rate, netip.Addr:
		return fmt.Sprintf("%q", s.(fmt.Stringer).String())
	}
	return value
}

func (s *Sendmail) validate(v *validator) {
	v.check((s.Username == "") == (s.Password == ""), "sendmail.username", s.Username, "and sendmail.password must be set together")
	v.check(IsDNSName(s.Domain), "sendmail.domain", s.Domain, "must be a domain name")
	for _, name := range slices.Sorted(maps.Keys(s.Aliases)) {
		addr := s.Aliases[name]
		v.check(name != "" && !strings.ContainsAny(name, "@ \t<>"), "sendmail.aliases."+name, name, "must be a local name such as root")
		v.check(validSenderPattern(addr) && addr != "*" && !strings.HasPrefix(addr, "*"), "sendmail.aliases."+name, addr, "must be an address")
	}
}

// validateListenerConflicts refuses two sockets on one address, which
// serve could not both bind: the same port on the same host, or on a
// host and the wildcard that covers it ("" or "::" every address,
// "0.0.0.0" every IPv4 address).
func (c *Config) validateListenerConflicts(v *validator) {
	type socket struct {
		key  string
		addr HostPort
	}
	var all []socket
	for i, l := range c.Submission.Listeners {
		all = append(all, socket{fmt.Sprintf("submission.listeners[%d].address", i), l.Address})
	}
	all = append(all, socket{"metrics.listen", c.Metrics.Listen}, socket{"admin.listen", c.Admin.Listen}, socket{"api.listen", c.API.Listen})
	for i, b := range all {
		for _, a := range all[:i] {
			if overlaps(a.addr, b.addr) {
				v.check(false, b.key, b.addr, "is also the address of "+a.key+": one of them must change")
				break
			}
		}
	}
}

// overlaps reports whether sockets bound at a and b would collide.
func overlaps(a, b HostPort) bool {
	if a.IsZero() || b.IsZero() || a.Port != b.Port || a.Port == 0 {
		return false
	}
	return a.Host == b.Host || covers(a.Host, b.Host) || covers(b.Host, a.Host)
}

// covers reports whether a socket bound on wildcard host w takes the
// port on host h too.
func covers(w, h string) bool {
	switch w {
	case "", "::":
		return true
	case "0.0.0.0":
		a, err := netip.ParseAddr(h)
		return err != nil || a.Unmap().Is4() // a name may resolve to IPv4
	}
	return false
}
