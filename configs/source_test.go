package configs

import (
	"strings"
	"testing"
)

// loadYAML loads yaml as a config file, with no environment.
func loadYAML(t *testing.T, yaml string) (*Config, error) {
	t.Helper()
	return load(writeConfig(t, yaml), nil)
}

// A listener written without tls: gets the documented default, none.
func TestLoad_ListenerTLSDefaultsToNone(t *testing.T) {
	t.Parallel()
	c, err := loadYAML(t, "submission:\n  listeners:\n    - address: 127.0.0.1:2600\n    - {address: 127.0.0.1:2601, tls: none}\n")
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range c.Submission.Listeners {
		if l.TLS != TLSNone {
			t.Errorf("listeners[%d].tls = %q, want none", i, l.TLS)
		}
	}
}

// Errors say the line of the key in the file, deep in lists and maps.
func TestLoad_ErrorsNameTheLine(t *testing.T) {
	t.Parallel()
	_, err := loadYAML(t, `hostname: relay.example
submission:
  listeners:
    - address: 127.0.0.1:2600
    - address: 127.0.0.1:99999
delivery:
  domains:
    Big.Example:
      max_connections: -1
dkim:
  headers: [From]
`)
	for _, want := range []string{
		`submission.listeners[1].address: "127.0.0.1:99999" is not host:port (the port is a number up to 65535) (line 5)`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want %q", err, want)
		}
	}
	_, err = loadYAML(t, "delivery:\n  domains:\n    Big.Example:\n      max_connections: -1\n")
	if want := "delivery.domains.big.example.max_connections: must be 0 (inherit) or positive (got -1, line 4)"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v, want %q", err, want)
	}
}

// Two sockets on one address are a config error, not a failed start.
func TestLoad_ListenerConflicts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, yaml, want string
	}{
		{"two listeners", "submission: {listeners: [{address: '127.0.0.1:2600'}, {address: '127.0.0.1:2600'}]}",
			`submission.listeners[1].address: is also the address of submission.listeners[0].address`},
		{"metrics on a listener", "submission: {listeners: [{address: '127.0.0.1:2600'}]}\nmetrics: {listen: '127.0.0.1:2600'}",
			`metrics.listen: is also the address of submission.listeners[0].address`},
		{"every address and one of them", "submission: {listeners: [{address: ':2600'}, {address: '127.0.0.1:2600'}]}",
			`submission.listeners[1].address: is also the address of submission.listeners[0].address`},
		{"IPv4 wildcard and a name", "submission: {listeners: [{address: '0.0.0.0:2600'}]}\nadmin: {listen: 'localhost:2600'}",
			`admin.listen: is also the address of submission.listeners[0].address`},
		{"IPv6 any and IPv4", "submission: {listeners: [{address: '[::]:2600'}]}\nmetrics: {listen: '127.0.0.1:2600'}",
			`metrics.listen: is also the address of submission.listeners[0].address`},
	}
	for _, tt := range tests {
		_, err := loadYAML(t, tt.yaml)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		}
	}
	for _, ok := range []string{
		"submission: {listeners: [{address: '127.0.0.1:2600'}, {address: '127.0.0.2:2600'}, {address: '127.0.0.1:2601'}]}",
		"submission: {listeners: [{address: '0.0.0.0:2600'}, {address: '[::1]:2600'}]}",
		"submission: {listeners: [{address: '127.0.0.1:0'}, {address: '127.0.0.1:0'}]}",
	} {
		if _, err := loadYAML(t, ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}

// YAML anchors and aliases are values like any other: a section given as
// an alias is a mapping.
func TestLoad_AnchorsAndAliases(t *testing.T) {
	t.Parallel()
	c, err := loadYAML(t, `
delivery:
  domains:
    a.example: &slow {max_connections: 2, rate: 10/m}
    b.example: *slow
    c.example:
      <<: *slow
      max_connections: 3
`)
	if err != nil {
		t.Fatal(err)
	}
	d := c.Delivery.Domains
	if d["b.example"].MaxConnections != 2 || d["c.example"].MaxConnections != 3 || d["c.example"].Rate.Count != 10 {
		t.Errorf("domains %+v", d)
	}
}
