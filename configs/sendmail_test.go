package configs

import (
	"testing"
)

func TestLoad_SendmailSection(t *testing.T) {
	t.Parallel()
	c, err := Load(writeConfig(t, "hostname: relay.example\nsendmail: {aliases: {Root: ops@example.com}}"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Sendmail.Domain != "relay.example" {
		t.Errorf("sendmail.domain = %q, want the hostname", c.Sendmail.Domain)
	}
	if c.Sendmail.Aliases["root"] != "ops@example.com" {
		t.Errorf("aliases = %v (keys are lower-cased)", c.Sendmail.Aliases)
	}
}

func TestLoad_SendmailBadValuesNameTheKey(t *testing.T) {
	t.Parallel()
	testRefused(t, []refused{
		{"username without password", "sendmail: {username: cron}", "sendmail.username"},
		{"bad domain", "sendmail: {domain: 'not a domain'}", "sendmail.domain"},
		{"alias to a non-address", "sendmail: {aliases: {root: ops}}", "sendmail.aliases.root"},
		{"alias name with a domain", "sendmail: {aliases: {'root@x': ops@example.com}}", "sendmail.aliases.root@x"},
		{"unknown key", "sendmail: {server: x}", "server"},
	})
}
