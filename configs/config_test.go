package configs

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDefaults_RunOnLoopback(t *testing.T) {
	c, err := Defaults()
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Submission.Listeners; len(got) != 1 || got[0].Address.String() != "127.0.0.1:2525" || got[0].TLS != "none" {
		t.Errorf("default listeners = %+v", got)
	}
	if c.DataDir != "./mxout-data" || c.Metrics.Listen.String() != "127.0.0.1:9090" || c.Delivery.Port != 25 {
		t.Errorf("defaults: data_dir %q metrics %q port %d", c.DataDir, c.Metrics.Listen, c.Delivery.Port)
	}
	if c.Hostname == "" || c.Delivery.HeloName != c.Hostname {
		t.Errorf("hostname %q helo %q", c.Hostname, c.Delivery.HeloName)
	}
	if c.Queue.MinFreeBytes != c.AutoMinFreeBytes() || c.Queue.MinFreeBytes < 100<<20 {
		t.Errorf("min_free_bytes = %d, auto %d", c.Queue.MinFreeBytes, c.AutoMinFreeBytes())
	}
}

func TestExample_EqualsDefaultsAndNamesEveryKey(t *testing.T) {
	ex, err := Load("mxout.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	def, err := Defaults()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ex, def) {
		t.Errorf("mxout.example.yaml differs from defaults.yaml:\nexample:  %+v\ndefaults: %+v", ex, def)
	}
	text, err := os.ReadFile("mxout.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range Keys() {
		leaf := key[strings.LastIndexAny(key, ".]")+1:]
		if !strings.Contains(string(text), leaf+":") {
			t.Errorf("key %s is not documented in mxout.example.yaml", key)
		}
	}
}

func TestLoad_FileAndEnvOverride(t *testing.T) {
	p := writeConfig(t, `
hostname: relay.example
delivery:
  workers: 7
  retry: {initial: 1s, multiplier: 2, max_interval: 2s, jitter: 0, max_lifetime: 1h}
submission:
  max_message_bytes: 2MiB
  listeners:
    - {address: "127.0.0.1:2600", tls: none}
resolver: {servers: ["127.0.0.1:53535"], timeout: 2s}
`)
	t.Setenv("MXOUT_LOG_LEVEL", "debug")
	t.Setenv("MXOUT_DELIVERY_PORT", "2626")
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Delivery.Workers != 7 || c.Delivery.Retry.Initial != time.Second || c.Delivery.Retry.Jitter != 0 {
		t.Errorf("file values not applied: %+v", c.Delivery)
	}
	if c.Submission.MaxMessageBytes != 2<<20 {
		t.Errorf("max_message_bytes = %d", c.Submission.MaxMessageBytes)
	}
	if c.Log.Level != "debug" || c.Delivery.Port != 2626 {
		t.Errorf("env not applied: level %q port %d", c.Log.Level, c.Delivery.Port)
	}
	if c.Delivery.HeloName != "relay.example" {
		t.Errorf("helo_name should default to hostname, got %q", c.Delivery.HeloName)
	}
	if c.Delivery.Retry.MaxLifetime != time.Hour || c.Delivery.Retry.DelayNoticeAfter != 4*time.Hour {
		t.Errorf("nested defaults lost when a section is partly set: %+v", c.Delivery.Retry)
	}
}

func TestLoad_BadValuesNameTheKey(t *testing.T) {
	testRefused(t, []refused{
		{"negative workers", "delivery: {workers: -3}", "delivery.workers"},
		{"zero port", "delivery: {port: 0}", "delivery.port"},
		{"unknown tls policy", "delivery: {tls: sometimes}", "delivery.tls"},
		{"bad listener tls", "submission: {listeners: [{address: '127.0.0.1:1', tls: maybe}]}", "submission.listeners[0].tls"},
		{"listener without port", "submission: {listeners: [{address: 'localhost', tls: none}]}", "submission.listeners[0].address"},
		{"starttls without cert", "submission: {listeners: [{address: '127.0.0.1:1', tls: starttls}]}", "submission.tls.cert_file"},
		{"bad network", "submission: {trusted_networks: [10.0.0.0/33]}", "submission.trusted_networks[0]"},
		{"bad duration", "delivery: {retry: {initial: soon}}", "initial"},
		{"bad size", "submission: {max_message_bytes: lots}", "max_message_bytes"},
		{"jitter above one", "delivery: {retry: {jitter: 2}}", "delivery.retry.jitter"},
		{"unknown key", "delivery: {wokers: 3}", "wokers"},
		{"plain password", "submission: {users: [{username: a, password_hash: secret}]}", "submission.users[0].password_hash"},
		{"bad sender pattern", "submission: {users: [{username: a, password_hash: $2a$10$x, allowed_senders: ['@']}]}", "allowed_senders[0]"},
		{"bad log level", "log: {level: loud}", "log.level"},
		{"resolver without port", "resolver: {servers: [127.0.0.1]}", "resolver.servers[0]"},
		{"value log too small", "submission: {max_message_bytes: 40MiB}", "queue.badger.value_log_file_bytes"},
		{"postmaster not an address", "dsn: {postmaster: postmaster}", "dsn.postmaster"},
		{"postmaster in brackets", "dsn: {postmaster: '<pm@relay.example>'}", "dsn.postmaster"},
		{"negative bounce size cap", "dsn: {max_original_bytes: -1}", "dsn.max_original_bytes"},
		{"negative delay notice", "delivery: {retry: {delay_notice_after: -1h}}", "delivery.retry.delay_notice_after"},
		{"zero recipients per transaction", "delivery: {max_recipients_per_transaction: 0}", "delivery.max_recipients_per_transaction"},
		{"zero messages per connection", "delivery: {max_messages_per_connection: 0}", "delivery.max_messages_per_connection"},
		{"negative idle timeout", "delivery: {connection_idle_timeout: -1s}", "delivery.connection_idle_timeout"},
		{"unknown ip family", "delivery: {ip_family: ipv5}", "delivery.ip_family"},
		{"bad source address", "delivery: {source_address: 10.0.0.300}", "delivery.source_address"},
		{"source address of the other family", "delivery: {ip_family: ipv6, source_address: 192.0.2.1}", "delivery.source_address"},
		{"bad domain rate", "delivery: {domains: {example.com: {rate: fast}}}", "delivery.domains.example.com.rate"},
		{"bad domain tls", "delivery: {domains: {example.com: {tls: maybe}}}", "delivery.domains.example.com.tls"},
		{"negative domain connections", "delivery: {domains: {example.com: {max_connections: -1}}}", "delivery.domains.example.com.max_connections"},
		{"bad domain name", "delivery: {domains: {'exa mple.com': {rate: 1/s}}}", "delivery.domains.exa mple.com"},
		{"unknown domain key", "delivery: {domains: {example.com: {rates: 1/s}}}", "rates"},
		{"zero dead hold", "delivery: {dead_destination: {hold: 0s}}", "delivery.dead_destination.hold"},
		{"zero rcpt timeout", "delivery: {timeouts: {rcpt: 0s}}", "delivery.timeouts.rcpt"},
		{"bad metrics domain", "metrics: {domains: ['gmail com']}", "metrics.domains[0]"},
		{"uppercase metrics domain", "metrics: {domains: [Gmail.com]}", "metrics.domains[0]"},
		{"metrics domain other", "metrics: {domains: [other]}", "metrics.domains[0]"},
		{"metrics domain twice", "metrics: {domains: [gmail.com, gmail.com]}", "metrics.domains[1]"},
		{"smarthost credentials without TLS", "delivery: {smarthost: {address: 'relay.example:587', username: u, password: p, tls: none}}", "delivery.smarthost.tls"},
		{"bad allowed network", "delivery: {allowed_networks: [10.0.0.0/33]}", "delivery.allowed_networks[0]"},
		{"bad smarthost tls", "delivery: {smarthost: {address: 'relay.example:587', tls: sometimes}}", "delivery.smarthost.tls"},
		{"tls report interval zero", "delivery: {tls_reporting: {interval: 0s}}", "delivery.tls_reporting.interval"},
		{"tls report contact not an address", "delivery: {tls_reporting: {contact: 'tls reports'}}", "delivery.tls_reporting.contact"},
		{"tls report contact in brackets", "delivery: {tls_reporting: {contact: '<r@relay.example>'}}", "delivery.tls_reporting.contact"},
		{"tls report organization on two lines", "delivery: {tls_reporting: {organization: \"a\\nb\"}}", "delivery.tls_reporting.organization"},
		{"dnssec not a bool", "resolver: {dnssec: sometimes}", "resolver.dnssec"},
		{"zero data timeout", "submission: {data_timeout: 0s}", "submission.data_timeout"},
		{"session shorter than a command", "submission: {session_timeout: 1m, read_timeout: 5m}", "submission.session_timeout"},
		{"no errors allowed", "submission: {max_errors: 0}", "submission.max_errors"},
		{"per-IP above overall", "submission: {max_connections: 10, max_connections_per_ip: 11}", "submission.max_connections_per_ip"},
		{"negative user rate", "submission: {rate_limit: {messages_per_user: -1}}", "submission.rate_limit.messages_per_user"},
		{"tiny rate window", "submission: {rate_limit: {window: 10ms}}", "submission.rate_limit.window"},
		{"no auth failures allowed", "submission: {auth_throttle: {max_failures_per_ip: 0}}", "submission.auth_throttle.max_failures_per_ip"},
		{"auth delay too long", "submission: {auth_throttle: {delay: 5m}}", "submission.auth_throttle.delay"},
		{"tiny watch interval", "submission: {tls: {watch_interval: 10ms}}", "submission.tls.watch_interval"},
		{"plaintext auth flag not a bool", "submission: {allow_plaintext_auth_from_trusted: maybe}", "allow_plaintext_auth_from_trusted"},
		{"admin on every interface without a token", "admin: {listen: ':8025'}", "admin.listen"},
		{"admin on a public address without a token", "admin: {listen: '192.0.2.1:8025'}", "admin.listen"},
	})
}

func TestLoad_DomainOverridesKeepDottedNames(t *testing.T) {
	p := writeConfig(t, `
delivery:
  domains:
    Example.COM: {max_connections: 3, rate: 600/m}
    mail.example.net: {tls: required, max_messages_per_connection: 5}
`)
	t.Setenv("MXOUT_DELIVERY_TIMEOUTS_RCPT", "42s")
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]DomainPolicy{
		"example.com":      {MaxConnections: 3, Rate: Rate{600, time.Minute}},
		"mail.example.net": {TLS: "required", MaxMessagesPerConnection: 5},
	}
	if !reflect.DeepEqual(c.Delivery.Domains, want) {
		t.Errorf("domains = %+v, want %+v", c.Delivery.Domains, want)
	}
	if c.Delivery.Timeouts.Rcpt != 42*time.Second || c.Delivery.Timeouts.DataDone != 10*time.Minute {
		t.Errorf("timeouts = %+v", c.Delivery.Timeouts)
	}
	out, err := Render(c)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Load(writeConfig(t, string(out)))
	if err != nil || !reflect.DeepEqual(again.Delivery.Domains, want) {
		t.Errorf("domains do not round-trip through Render: %v\n%s", err, out)
	}
}

func TestParseRate(t *testing.T) {
	testParse(t, "ParseRate", ParseRate, []parsed[Rate]{
		{in: "", want: Rate{}},
		{in: "10/s", want: Rate{10, time.Second}},
		{in: "600/m", want: Rate{600, time.Minute}},
		{in: " 5 / minute ", want: Rate{5, time.Minute}},
		{in: "1/sec", want: Rate{1, time.Second}},
		{in: "10", bad: true},
		{in: "0/s", bad: true},
		{in: "-1/s", bad: true},
		{in: "10/h", bad: true},
		{in: "1.5/s", bad: true},
		{in: "/s", bad: true},
		{in: "99999999999/s", bad: true},
	})
}

func TestLoad_AdminListen(t *testing.T) {
	for _, yaml := range []string{
		"admin: {listen: '127.0.0.1:8025'}",
		"admin: {listen: 'localhost:8025'}",
		"admin: {listen: '[::1]:8025'}",
		"admin: {listen: ''}",
		"admin: {listen: '0.0.0.0:8025', token: s3cret}",
		"admin: {socket: ''}",
		"admin: {socket: /run/mxout/admin.sock}",
		"data_dir: /" + strings.Repeat("d", 120) + "\nadmin: {socket: admin.sock}", // longer than a socket address holds: bound through the directory
	} {
		if _, err := Load(writeConfig(t, yaml)); err != nil {
			t.Errorf("%s: %v", yaml, err)
		}
	}
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"10/s", "600/m", "1/minute", "", "x/s", "5/", "0/s", "1000000/s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRate(s)
		if err != nil {
			return
		}
		if (r == Rate{}) != (strings.TrimSpace(s) == "") {
			t.Errorf("ParseRate(%q) = %+v", s, r)
		}
		if r.Count < 0 || r.Count > maxRateCount || (r.Count > 0 && r.Per/time.Duration(r.Count) <= 0) {
			t.Errorf("ParseRate(%q) = %+v: no usable interval", s, r)
		}
	})
}

func TestLoad_MissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !strings.Contains(err.Error(), "nope.yaml") {
		t.Errorf("missing file error = %v", err)
	}
}

func TestRender_RoundTrips(t *testing.T) {
	p := writeConfig(t, `
hostname: relay.example
delivery: {smarthost: {address: "127.0.0.1:2626", username: u, password: p}}
submission: {users: [{username: a, password_hash: "$2a$10$abc", allowed_senders: ["*"]}]}
`)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Render(c)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "password: p") || !strings.Contains(string(out), "(set)") {
		t.Errorf("secret not hidden:\n%s", out)
	}
	c.Delivery.Smarthost.Password = "(set)"
	again, err := Load(writeConfig(t, string(out)))
	if err != nil {
		t.Fatalf("rendered config does not load: %v\n%s", err, out)
	}
	if !reflect.DeepEqual(c, again) {
		t.Errorf("render round trip changed the config:\n%s", out)
	}
}

func TestParseByteSize(t *testing.T) {
	testParse(t, "ParseByteSize", ParseByteSize, []parsed[ByteSize]{
		{in: "1024", want: 1024},
		{in: "10MiB", want: 10 << 20},
		{in: "10MB", want: 10_000_000},
		{in: "4KiB", want: 4096},
		{in: "1 GiB", want: 1 << 30},
		{in: "2k", want: 2048},
		{in: "7B", want: 7},
		{in: "", bad: true},
		{in: "-1", bad: true},
		{in: "MiB", bad: true},
		{in: "1.5MiB", bad: true},
		{in: "99999999999999999GiB", bad: true},
	})
}

func FuzzParseByteSize(f *testing.F) {
	for _, s := range []string{"1", "10MiB", "4 KiB", "1GB", "x", "-5", "18446744073709551616"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseByteSize(s)
		if err == nil && n < 0 {
			t.Errorf("ParseByteSize(%q) = %d", s, n)
		}
	})
}

func TestDocs_ConfigurationReferenceNamesEveryKey(t *testing.T) {
	text, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range Keys() {
		if !strings.Contains(string(text), "`"+key+"`") {
			t.Errorf("docs/configuration.md does not document %s", key)
		}
	}
}

// A bad hostname is one error, not one more per key that inherits it
// (delivery.helo_name, sendmail.domain); a bad value set on such a key
// itself is still reported under its own name.
func TestLoad_BadHostnameIsOneError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		yaml     string
		wantKeys []string
	}{
		{`hostname: "bad host!"`, []string{"hostname"}},
		{`{hostname: "bad host!", delivery: {helo_name: "other bad"}}`, []string{"hostname", "delivery.helo_name"}},
		{`delivery: {helo_name: "bad helo"}`, []string{"delivery.helo_name"}},
	}
	for _, tt := range tests {
		_, err := Load(writeConfig(t, tt.yaml))
		if err == nil {
			t.Fatalf("config %q accepted", tt.yaml)
		}
		lines := strings.Split(strings.TrimSpace(err.Error()), "\n")
		if len(lines) != len(tt.wantKeys) {
			t.Errorf("config %q: %d errors, want %d (%v):\n%v", tt.yaml, len(lines), len(tt.wantKeys), tt.wantKeys, err)
			continue
		}
		for i, key := range tt.wantKeys {
			if !strings.Contains(lines[i], key+":") {
				t.Errorf("config %q: error %d %q does not name %s", tt.yaml, i, lines[i], key)
			}
		}
	}
}

// A bad value from the environment names its variable, not only the file.
func TestLoad_BadEnvValueNamesTheVariable(t *testing.T) {
	t.Setenv("MXOUT_LOG_LEVEL", "loud")
	path := writeConfig(t, "log: {format: json}")
	_, err := Load(path)
	if err == nil {
		t.Fatal("MXOUT_LOG_LEVEL=loud accepted")
	}
	for _, want := range []string{path, "MXOUT_LOG_LEVEL", "log.level"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

// A key whose value is written as one scalar but decoded into a struct
// (an address, a network, a rate) is a key, not a section: the example
// and reference tests above check it through Keys.
func TestKeys_ValuesDecodedIntoStructsAreKeys(t *testing.T) {
	t.Parallel()
	keys := Keys()
	for _, want := range []string{
		"submission.listeners[].address", "submission.trusted_networks", "delivery.allowed_networks",
		"delivery.source_address", "delivery.domains.<name>.rate", "delivery.smarthost.address",
		"resolver.servers", "metrics.listen", "admin.listen",
	} {
		if !slices.Contains(keys, want) {
			t.Errorf("Keys() lacks %s", want)
		}
	}
}
