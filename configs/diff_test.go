package configs

import (
	"slices"
	"testing"
)

func TestDiff_NamesTheChangedKeys(t *testing.T) {
	t.Parallel()
	a, err := loadYAML(t, `
hostname: relay.example
delivery:
  workers: 8
  domains:
    big.example: {max_connections: 5}
    gone.example: {rate: 10/s}
dkim:
  headers: [From, To]
`)
	if err != nil {
		t.Fatal(err)
	}
	b, err := loadYAML(t, `
hostname: relay.example
delivery:
  workers: 9
  domains:
    big.example: {max_connections: 6}
    new.example: {rate: 10/s}
  smarthost: {address: "smarthost.example:587", tls: starttls, username: u, password: secret}
dkim:
  headers: [From, To]
log: {level: debug}
submission:
  listeners: [{address: "127.0.0.1:2525"}, {address: "127.0.0.1:2526"}]
`)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"submission.listeners",
		"delivery.workers",
		"delivery.domains.big.example.max_connections", "delivery.domains.gone.example", "delivery.domains.new.example",
		"delivery.smarthost.address", "delivery.smarthost.username", "delivery.smarthost.password",
		"log.level",
	}
	if got := Diff(a, b); !slices.Equal(got, want) {
		t.Errorf("Diff =\n%q\nwant\n%q", got, want)
	}
	if got := Diff(a, a); len(got) != 0 {
		t.Errorf("Diff of a config with itself = %q", got)
	}
}

func TestCovered(t *testing.T) {
	t.Parallel()
	for key, want := range map[string]bool{
		"dkim": true, "dkim.domains.example.com.selector": true, "submission.users": true,
		"submission.users_file": false, "submission.tls.cert_file": true, "submission.tlsx": false,
		"submission.listeners[0].tls": false,
	} {
		if got := Covered(key, "dkim", "submission.users", "submission.tls"); got != want {
			t.Errorf("Covered(%q) = %v", key, got)
		}
	}
}
