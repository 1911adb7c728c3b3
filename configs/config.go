package configs

import (
	"net/netip"
	"time"
)

// Config is the whole mxout configuration. Every field maps to a YAML key
// (the mapstructure tag) and to an environment variable MXOUT_<SECTION>_<KEY>.
// Defaults live in defaults.yaml, embedded into the binary.
type Config struct {
	// Hostname is this relay's name: the greeting, Received headers,
	// Message-IDs it adds and the Reporting-MTA of bounces.
	Hostname string `mapstructure:"hostname" yaml:"hostname"`
	// DataDir holds the queue database.
	DataDir string `mapstructure:"data_dir" yaml:"data_dir"`

	Submission Submission `mapstructure:"submission" yaml:"submission"`
	Delivery   Delivery   `mapstructure:"delivery" yaml:"delivery"`
	Queue      Queue      `mapstructure:"queue" yaml:"queue"`
	Resolver   Resolver   `mapstructure:"resolver" yaml:"resolver"`
	Metrics    Metrics    `mapstructure:"metrics" yaml:"metrics"`
	Admin      Admin      `mapstructure:"admin" yaml:"admin"`
	DSN        DSN        `mapstructure:"dsn" yaml:"dsn"`
	Log        Log        `mapstructure:"log" yaml:"log"`
	DKIM       DKIM       `mapstructure:"dkim" yaml:"dkim"`
	Sendmail   Sendmail   `mapstructure:"sendmail" yaml:"sendmail"`
	API        API        `mapstructure:"api" yaml:"api"`
	Events     Events     `mapstructure:"events" yaml:"events"`
	Webhooks   Webhooks   `mapstructure:"webhooks" yaml:"webhooks"`
}

// Submission configures the SMTP front where clients hand mail to the relay.
type Submission struct {
	Listeners       []Listener `mapstructure:"listeners" yaml:"listeners"`
	TLS             TLSFiles   `mapstructure:"tls" yaml:"tls"`
	MaxMessageBytes ByteSize   `mapstructure:"max_message_bytes" yaml:"max_message_bytes"`
	MaxRecipients   int        `mapstructure:"max_recipients" yaml:"max_recipients"`
	// TrustedNetworks may relay without AUTH (CIDR or single addresses).
	TrustedNetworks []netip.Prefix `mapstructure:"trusted_networks" yaml:"trusted_networks"`
	Users           []User         `mapstructure:"users" yaml:"users"`
	// UsersFile is a YAML list of more users (same fields as Users), read
	// at start and again on SIGHUP; empty: none.
	UsersFile string `mapstructure:"users_file" yaml:"users_file"`
	// AllowPlaintextAuthFromTrusted offers AUTH without TLS to clients in
	// TrustedNetworks; never to others.
	AllowPlaintextAuthFromTrusted bool `mapstructure:"allow_plaintext_auth_from_trusted" yaml:"allow_plaintext_auth_from_trusted"`
	// ReadTimeout bounds the wait for each command line and BDAT chunk.
	ReadTimeout time.Duration `mapstructure:"read_timeout" yaml:"read_timeout"`
	// WriteTimeout bounds each reply write.
	WriteTimeout time.Duration `mapstructure:"write_timeout" yaml:"write_timeout"`
	// DataTimeout bounds a whole message transfer (DATA or BDAT).
	DataTimeout time.Duration `mapstructure:"data_timeout" yaml:"data_timeout"`
	// SessionTimeout bounds a whole connection.
	SessionTimeout time.Duration `mapstructure:"session_timeout" yaml:"session_timeout"`
	// MaxLineLength is the longest command or message line accepted.
	MaxLineLength int `mapstructure:"max_line_length" yaml:"max_line_length"`
	// MaxErrors is how many refused commands a connection may collect
	// before it is closed with 421 4.7.0.
	MaxErrors int `mapstructure:"max_errors" yaml:"max_errors"`
	// MaxConnections bounds open connections over all listeners.
	MaxConnections int `mapstructure:"max_connections" yaml:"max_connections"`
	// MaxConnectionsPerIP bounds open connections from one client address
	// outside TrustedNetworks (IPv6: one /64).
	MaxConnectionsPerIP int `mapstructure:"max_connections_per_ip" yaml:"max_connections_per_ip"`
	// PreAuthTimeout is how long a client outside TrustedNetworks may stay
	// connected without authenticating.
	PreAuthTimeout time.Duration `mapstructure:"pre_auth_timeout" yaml:"pre_auth_timeout"`
	// RateLimit bounds accepted messages per user and per client address.
	RateLimit RateLimit `mapstructure:"rate_limit" yaml:"rate_limit"`
	// AuthThrottle limits failed AUTH attempts.
	AuthThrottle AuthThrottle `mapstructure:"auth_throttle" yaml:"auth_throttle"`
	// CheckHeaderFrom checks an authenticated user's From: header against
	// its AllowedSenders, as MAIL FROM is.
	CheckHeaderFrom bool `mapstructure:"check_header_from" yaml:"check_header_from"`
	// ReceivedHeaderAuth names the authenticated user in Received headers.
	ReceivedHeaderAuth bool `mapstructure:"received_header_auth" yaml:"received_header_auth"`
	// HideClientIP leaves the client's IP address out of Received headers.
	HideClientIP bool `mapstructure:"hide_client_ip" yaml:"hide_client_ip"`
}

// RateLimit bounds accepted messages over a sliding window; 0 is no limit.
type RateLimit struct {
	Window          time.Duration `mapstructure:"window" yaml:"window"`
	MessagesPerUser int           `mapstructure:"messages_per_user" yaml:"messages_per_user"`
	// MessagesPerIP counts clients outside TrustedNetworks only.
	MessagesPerIP int `mapstructure:"messages_per_ip" yaml:"messages_per_ip"`
}

// AuthThrottle limits failed AUTH attempts per client address, username
// from one address and connection within a sliding window, each answered
// after Delay. A username's failures from all addresses only add delay.
type AuthThrottle struct {
	Window                time.Duration `mapstructure:"window" yaml:"window"`
	MaxFailuresPerIP      int           `mapstructure:"max_failures_per_ip" yaml:"max_failures_per_ip"`
	MaxFailuresPerUser    int           `mapstructure:"max_failures_per_user" yaml:"max_failures_per_user"`
	MaxFailuresPerSession int           `mapstructure:"max_failures_per_session" yaml:"max_failures_per_session"`
	Delay                 time.Duration `mapstructure:"delay" yaml:"delay"`
}

// Listener is one submission socket.
type Listener struct {
	Address HostPort `mapstructure:"address" yaml:"address"`
	// TLS is none, starttls or implicit.
	TLS TLSMode `mapstructure:"tls" yaml:"tls"`
}

// TLSFiles names a PEM certificate chain and its private key.
type TLSFiles struct {
	CertFile string `mapstructure:"cert_file" yaml:"cert_file"`
	KeyFile  string `mapstructure:"key_file" yaml:"key_file"`
	// WatchInterval is how often the files are checked for changes and
	// reloaded; 0: only on SIGHUP.
	WatchInterval time.Duration `mapstructure:"watch_interval" yaml:"watch_interval"`
}

// User is a submission account that may AUTH and relay.
type User struct {
	Username string `mapstructure:"username" yaml:"username"`
	// PasswordHash is a bcrypt hash, as printed by `mxout passwd`.
	PasswordHash string `mapstructure:"password_hash" yaml:"password_hash"`
	// AllowedSenders are MAIL FROM patterns: "*", "*@example.com", "a@example.com".
	AllowedSenders []string `mapstructure:"allowed_senders" yaml:"allowed_senders"`
}

// Delivery configures the outbound side.
type Delivery struct {
	Workers  int    `mapstructure:"workers" yaml:"workers"`
	Port     int    `mapstructure:"port" yaml:"port"`
	HeloName string `mapstructure:"helo_name" yaml:"helo_name"`
	// MaxConnectionsPerDomain caps open connections (busy or idle) to one
	// destination domain.
	MaxConnectionsPerDomain int `mapstructure:"max_connections_per_domain" yaml:"max_connections_per_domain"`
	// MaxRecipientsPerTransaction caps RCPTs in one SMTP transaction.
	MaxRecipientsPerTransaction int `mapstructure:"max_recipients_per_transaction" yaml:"max_recipients_per_transaction"`
	// MaxMessagesPerConnection caps transactions on one connection; 1
	// disables reuse.
	MaxMessagesPerConnection int `mapstructure:"max_messages_per_connection" yaml:"max_messages_per_connection"`
	// MaxMXAddresses caps the remote addresses one delivery attempt tries
	// (Postfix smtp_mx_address_limit); 0: no limit.
	MaxMXAddresses int `mapstructure:"max_mx_addresses" yaml:"max_mx_addresses"`
	// MaxMXSessions caps the connections one attempt makes that a server
	// accepted (Postfix smtp_mx_session_limit); 0: no limit.
	MaxMXSessions int `mapstructure:"max_mx_sessions" yaml:"max_mx_sessions"`
	// ConnectionIdleTimeout is how long an idle connection is kept for the
	// next message to the same host; 0 disables reuse.
	ConnectionIdleTimeout time.Duration `mapstructure:"connection_idle_timeout" yaml:"connection_idle_timeout"`
	// IPFamily is any, ipv4 or ipv6: which remote addresses are used.
	IPFamily IPFamily `mapstructure:"ip_family" yaml:"ip_family"`
	// SourceAddress is the local IP address of outbound connections; empty
	// lets the system choose.
	SourceAddress netip.Addr `mapstructure:"source_address" yaml:"source_address"`
	// TLS is opportunistic, required or disabled.
	TLS TLSPolicy `mapstructure:"tls" yaml:"tls"`
	// AllowedNetworks (CIDR or single addresses) may be connected to
	// although they are not global unicast addresses; MX-derived
	// addresses outside them that are not global are skipped.
	AllowedNetworks []netip.Prefix `mapstructure:"allowed_networks" yaml:"allowed_networks"`
	// MTASTS applies the MTA-STS policies (RFC 8461) that recipient
	// domains publish.
	MTASTS bool `mapstructure:"mta_sts" yaml:"mta_sts"`
	// DANE applies authenticated TLSA records (RFC 7672); only with
	// resolver.dnssec, which says what is authenticated.
	DANE bool `mapstructure:"dane" yaml:"dane"`
	// TLSReporting sends SMTP TLS reports (RFC 8460).
	TLSReporting TLSReporting `mapstructure:"tls_reporting" yaml:"tls_reporting"`
	// Domains overrides the shaping and TLS settings per destination domain.
	Domains         map[string]DomainPolicy `mapstructure:"domains" yaml:"domains"`
	DeadDestination DeadDestination         `mapstructure:"dead_destination" yaml:"dead_destination"`
	Smarthost       Smarthost               `mapstructure:"smarthost" yaml:"smarthost"`
	Retry           Retry                   `mapstructure:"retry" yaml:"retry"`
	Timeouts        DeliveryTimeouts        `mapstructure:"timeouts" yaml:"timeouts"`
	// ShutdownTimeout is how long a stopping relay lets deliveries in
	// flight finish before aborting them (they are retried after restart).
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout" yaml:"shutdown_timeout"`
}

// DomainPolicy overrides delivery settings for one destination domain.
// Zero values inherit the global setting.
type DomainPolicy struct {
	// MaxConnections replaces max_connections_per_domain; 0 inherits.
	MaxConnections int `mapstructure:"max_connections" yaml:"max_connections"`
	// MaxMessagesPerConnection replaces max_messages_per_connection; 0 inherits.
	MaxMessagesPerConnection int `mapstructure:"max_messages_per_connection" yaml:"max_messages_per_connection"`
	// Rate is messages per second or minute ("10/s", "600/m"); empty is unlimited.
	Rate Rate `mapstructure:"rate" yaml:"rate"`
	// TLS replaces delivery.tls; empty inherits.
	TLS TLSPolicy `mapstructure:"tls" yaml:"tls"`
}

// TLSReporting configures SMTP TLS reports (RFC 8460) to the domains that
// ask for them.
type TLSReporting struct {
	// Enabled counts sessions and sends the reports.
	Enabled bool `mapstructure:"enabled" yaml:"enabled"`
	// Interval is the length of a report window; the first starts when
	// mxout does.
	Interval time.Duration `mapstructure:"interval" yaml:"interval"`
	// Organization is the report's organization-name; empty: hostname.
	Organization string `mapstructure:"organization" yaml:"organization"`
	// Contact is the report's contact-info, an address; empty:
	// postmaster@hostname.
	Contact string `mapstructure:"contact" yaml:"contact"`
}

// DeadDestination holds off a destination that keeps failing as a whole.
type DeadDestination struct {
	// Failures is how many consecutive connection failures or whole-
	// transaction 4xx make a destination dead; 0 disables.
	Failures int `mapstructure:"failures" yaml:"failures"`
	// Hold is how long a dead destination's mail is deferred without
	// connecting.
	Hold time.Duration `mapstructure:"hold" yaml:"hold"`
}

// DeliveryTimeouts bound each step of an outbound SMTP session
// (RFC 5321 §4.5.3.2: its values are the defaults, with Postfix's where
// the RFC names none) and the whole attempt.
type DeliveryTimeouts struct {
	// Connect bounds the TCP connect to one address.
	Connect time.Duration `mapstructure:"connect" yaml:"connect"`
	// Greeting bounds the wait for the 220 greeting (RFC: 5 minutes).
	Greeting time.Duration `mapstructure:"greeting" yaml:"greeting"`
	// Helo bounds EHLO/HELO, STARTTLS with its handshake, and AUTH
	// (Postfix smtp_helo_timeout: 300s).
	Helo time.Duration `mapstructure:"helo" yaml:"helo"`
	// Mail bounds the reply to MAIL FROM (RFC: 5 minutes).
	Mail time.Duration `mapstructure:"mail" yaml:"mail"`
	// Rcpt bounds the reply to each RCPT TO (RFC: 5 minutes).
	Rcpt time.Duration `mapstructure:"rcpt" yaml:"rcpt"`
	// DataInit bounds the 354 reply to DATA (RFC: 2 minutes).
	DataInit time.Duration `mapstructure:"data_init" yaml:"data_init"`
	// DataBlock bounds each 64 KiB write of the body (RFC: 3 minutes).
	DataBlock time.Duration `mapstructure:"data_block" yaml:"data_block"`
	// DataDone bounds the reply to the final dot (RFC: 10 minutes).
	DataDone time.Duration `mapstructure:"data_done" yaml:"data_done"`
	// Rset bounds RSET before a cached session is reused, and QUIT
	// (Postfix smtp_rset_timeout: 20s).
	Rset time.Duration `mapstructure:"rset" yaml:"rset"`
	// Attempt bounds one whole delivery attempt: every MX host and
	// address tried, every session and the transaction.
	Attempt time.Duration `mapstructure:"attempt" yaml:"attempt"`
}

// Smarthost sends all mail through one upstream relay instead of MX lookups.
type Smarthost struct {
	// Address is host:port; empty disables smarthost mode.
	Address  HostPort `mapstructure:"address" yaml:"address"`
	Username string   `mapstructure:"username" yaml:"username"`
	Password string   `mapstructure:"password" yaml:"password"`
	// TLS is starttls, implicit or none (not with credentials).
	TLS TLSMode `mapstructure:"tls" yaml:"tls"`
	// CAFile is a PEM file of the CA certificates that verify the
	// smarthost's certificate, instead of the system's roots.
	CAFile string `mapstructure:"ca_file" yaml:"ca_file"`
	// InsecureSkipVerify accepts any smarthost certificate, even when
	// credentials are sent (warned about at every start).
	InsecureSkipVerify bool `mapstructure:"insecure_skip_verify" yaml:"insecure_skip_verify"`
}

// Retry is the backoff schedule for temporary failures.
type Retry struct {
	Initial     time.Duration `mapstructure:"initial" yaml:"initial"`
	Multiplier  float64       `mapstructure:"multiplier" yaml:"multiplier"`
	MaxInterval time.Duration `mapstructure:"max_interval" yaml:"max_interval"`
	// Jitter spreads each interval by ± this fraction (0 to 1).
	Jitter      float64       `mapstructure:"jitter" yaml:"jitter"`
	MaxLifetime time.Duration `mapstructure:"max_lifetime" yaml:"max_lifetime"`
	// DelayNoticeAfter sends one delay DSN after this long, for recipients
	// with NOTIFY=DELAY; 0 disables it.
	DelayNoticeAfter time.Duration `mapstructure:"delay_notice_after" yaml:"delay_notice_after"`
}

// Queue configures the on-disk queue.
type Queue struct {
	// MinFreeBytes is the free space below which new mail gets 452 4.3.1
	// and no delivery starts (results are still recorded down to half).
	// 0 means automatic: room for new memtables, a value-log file and one
	// message of max_message_bytes.
	MinFreeBytes ByteSize `mapstructure:"min_free_bytes" yaml:"min_free_bytes"`
	// GCInterval is how often the value log is garbage-collected.
	GCInterval time.Duration `mapstructure:"gc_interval" yaml:"gc_interval"`
	// LeaseDuration is how far the next attempt is pushed out when a message
	// is taken for delivery, so that a crash mid-delivery retries it after
	// this long instead of in a tight loop.
	LeaseDuration time.Duration `mapstructure:"lease_duration" yaml:"lease_duration"`
	Badger        Badger        `mapstructure:"badger" yaml:"badger"`
}

// Badger holds the storage engine's memory and file sizes.
type Badger struct {
	MemtableBytes     ByteSize `mapstructure:"memtable_bytes" yaml:"memtable_bytes"`
	NumMemtables      int      `mapstructure:"num_memtables" yaml:"num_memtables"`
	BlockCacheBytes   ByteSize `mapstructure:"block_cache_bytes" yaml:"block_cache_bytes"`
	IndexCacheBytes   ByteSize `mapstructure:"index_cache_bytes" yaml:"index_cache_bytes"`
	ValueLogFileBytes ByteSize `mapstructure:"value_log_file_bytes" yaml:"value_log_file_bytes"`
	ValueThreshold    ByteSize `mapstructure:"value_threshold" yaml:"value_threshold"`
}

// Resolver configures DNS lookups.
type Resolver struct {
	// Servers are host:port; empty means the system's /etc/resolv.conf.
	Servers []HostPort    `mapstructure:"servers" yaml:"servers"`
	Timeout time.Duration `mapstructure:"timeout" yaml:"timeout"`
	// DNSSEC asks the servers for DNSSEC and trusts their AD bit: it must
	// be a validating resolver the relay trusts (a local unbound).
	DNSSEC bool `mapstructure:"dnssec" yaml:"dnssec"`
}

// Metrics configures the Prometheus and health endpoint.
type Metrics struct {
	// Listen is host:port; empty disables the endpoint.
	Listen HostPort `mapstructure:"listen" yaml:"listen"`
	// Domains are the recipient domains whose deliveries and remote
	// replies get their own domain label value; all others are "other".
	Domains []string `mapstructure:"domains" yaml:"domains"`
	// Pprof serves Go's profiler under /debug/pprof/ on Listen.
	Pprof bool `mapstructure:"pprof" yaml:"pprof"`
}

// MaxMetricsDomains bounds metrics.domains: each entry adds series to
// every scrape.
const MaxMetricsDomains = 50

// Admin configures the queue administration API.
type Admin struct {
	// Listen is host:port; empty disables the API over TCP. Without a
	// token it serves reads only (stats, listings, messages without
	// their headers), like mailq for every local user.
	Listen HostPort `mapstructure:"listen" yaml:"listen"`
	// Token, when set, is required as "Authorization: Bearer <token>" on
	// every request (on Socket too), and then allows everything.
	Token string `mapstructure:"token" yaml:"token"`
	// Socket is the path of a unix socket (mode 0600) that serves the
	// whole API to the user mxout runs as (and root); `mxout queue`
	// prefers it. A relative path is inside data_dir (Config.AdminSocket);
	// empty disables it.
	Socket string `mapstructure:"socket" yaml:"socket"`
}

// DSN configures bounces (delivery status notifications).
type DSN struct {
	// Postmaster receives a copy of reports about failed null-sender mail
	// (such as bounces); empty drops them after logging.
	Postmaster string `mapstructure:"postmaster" yaml:"postmaster"`
	// MaxOriginalBytes is the largest original a failure report returns
	// whole when the sender gave no RET; larger ones are returned as their
	// headers (Postfix bounce_size_limit).
	MaxOriginalBytes ByteSize `mapstructure:"max_original_bytes" yaml:"max_original_bytes"`
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error.
	Level LogLevel `mapstructure:"level" yaml:"level"`
	// Format is text or json.
	Format LogFormat `mapstructure:"format" yaml:"format"`
}

// DKIM configures the signing of outgoing mail (RFC 6376).
type DKIM struct {
	// Require refuses, with 550 5.7.1, mail whose signing domain has no key.
	Require bool `mapstructure:"require" yaml:"require"`
	// Headers are the header fields signed for domains that do not list
	// their own; a name listed twice is over-signed (a second field of that
	// name added later breaks the signature).
	Headers []string `mapstructure:"headers" yaml:"headers"`
	// Domains maps a signing domain (the From: header's domain) to its keys.
	Domains map[string]DKIMDomain `mapstructure:"domains" yaml:"domains"`
}

// DKIMDomain is one signing domain. Its keys are the one named by Selector
// and PrivateKeyFile (if set) followed by Keys; each gives the message one
// DKIM-Signature, so an RSA and an Ed25519 key sign twice.
type DKIMDomain struct {
	Selector       string `mapstructure:"selector" yaml:"selector"`
	PrivateKeyFile string `mapstructure:"private_key_file" yaml:"private_key_file"`
	// Algorithm is rsa-sha256 or ed25519-sha256; empty: the key file's type.
	Algorithm string `mapstructure:"algorithm" yaml:"algorithm"`
	// Headers replaces dkim.headers for this domain when not empty.
	Headers []string  `mapstructure:"headers" yaml:"headers"`
	Keys    []DKIMKey `mapstructure:"keys" yaml:"keys"`
}

// DKIMKey is one further key of a domain (dual signing, key rotation).
type DKIMKey struct {
	Selector       string `mapstructure:"selector" yaml:"selector"`
	PrivateKeyFile string `mapstructure:"private_key_file" yaml:"private_key_file"`
	// Algorithm is rsa-sha256 or ed25519-sha256; empty: the key file's type.
	Algorithm string `mapstructure:"algorithm" yaml:"algorithm"`
}

// AllKeys returns the domain's keys in signing order: the top-level key,
// if set, then Keys.
func (d DKIMDomain) AllKeys() []DKIMKey {
	var out []DKIMKey
	if d.Selector != "" || d.PrivateKeyFile != "" {
		out = append(out, DKIMKey{Selector: d.Selector, PrivateKeyFile: d.PrivateKeyFile, Algorithm: d.Algorithm})
	}
	return append(out, d.Keys...)
}

// Sendmail configures `mxout sendmail`, the sendmail-compatible command,
// which submits to the first of submission.listeners.
type Sendmail struct {
	// Username and Password, when set, are sent with AUTH; both or
	// neither. Empty: no AUTH (loopback is in trusted_networks by default).
	Username string `mapstructure:"username" yaml:"username"`
	Password string `mapstructure:"password" yaml:"password"`
	// Domain qualifies addresses without a domain: the caller's login name
	// as the default sender, and recipients such as "root". Empty: hostname.
	Domain string `mapstructure:"domain" yaml:"domain"`
	// Aliases maps an unqualified recipient (or one at Domain) to an
	// address: {root: ops@example.com} sends cron's mail somewhere read.
	Aliases map[string]string `mapstructure:"aliases" yaml:"aliases"`
}
