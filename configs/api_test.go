package configs

import (
	"strings"
	"testing"
	"time"
)

const goodHash = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"

func TestAPI_DefaultsAreOff(t *testing.T) {
	c, err := Defaults()
	if err != nil {
		t.Fatal(err)
	}
	if !c.API.Listen.IsZero() || len(c.API.Keys) != 0 || len(c.Webhooks.Endpoints) != 0 {
		t.Errorf("API or webhooks on by default: %+v %+v", c.API, c.Webhooks)
	}
	w := c.Webhooks
	if c.Events.Retention != 72*time.Hour || w.BatchSize != 100 || w.Timeout != 10*time.Second ||
		w.Retry.Initial != 10*time.Second || w.Retry.MaxInterval != 10*time.Minute {
		t.Errorf("defaults: retention %v, webhooks %+v", c.Events.Retention, w)
	}
}

func TestAPI_ValidConfigLoads(t *testing.T) {
	c, err := Load(writeConfig(t, `
api:
  listen: 127.0.0.1:8080
  keys:
    - {name: billing, token_sha256: `+strings.ToUpper(goodHash)+`, allowed_senders: ["*@billing.example.com"]}
webhooks:
  endpoints:
    - {url: "http://127.0.0.1:9999/hook", secret: s3cret, events: [delivered, bounced], keys: [billing, "app+1@example.com"]}
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.API.Keys) != 1 || c.API.Keys[0].Name != "billing" || len(c.Webhooks.Endpoints) != 1 {
		t.Errorf("loaded %+v %+v", c.API, c.Webhooks)
	}
	out, err := Render(c)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "s3cret") {
		t.Errorf("config check prints the webhook secret:\n%s", out)
	}
}

func TestAPI_BadValuesNameTheKey(t *testing.T) {
	key := func(name, hash string) string {
		return "{name: " + name + ", token_sha256: " + hash + "}"
	}
	tests := []refused{
		{"listen without port", "api: {listen: localhost, keys: [" + key("a", goodHash) + "]}", "api.listen"},
		{"public listener in clear", "api: {listen: '0.0.0.0:8080', keys: [" + key("a", goodHash) + "]}", "api.listen"},
		{"listener without keys", "api: {listen: '127.0.0.1:8080'}", "api.keys"},
		{"cert without key", "api: {tls: {cert_file: /x.pem}}", "api.tls.key_file"},
		{"empty key name", "api: {keys: [" + key("''", goodHash) + "]}", "api.keys[0].name"},
		{"key name with space", "api: {keys: [" + key("'a b'", goodHash) + "]}", "api.keys[0].name"},
		{"duplicate key name", "api: {keys: [" + key("a", goodHash) + ", " + key("a", strings.Repeat("0", 64)) + "]}", "api.keys[1].name"},
		{"token itself instead of hash", "api: {keys: [" + key("a", "mxo_secret") + "]}", "api.keys[0].token_sha256"},
		{"duplicate hash", "api: {keys: [" + key("a", goodHash) + ", " + key("b", goodHash) + "]}", "api.keys[1].token_sha256"},
		{"bad sender", "api: {keys: [{name: a, token_sha256: " + goodHash + ", allowed_senders: ['@']}]}", "api.keys[0].allowed_senders[0]"},
		{"short retention", "events: {retention: 10s}", "events.retention"},
		{"ftp url", "webhooks: {endpoints: [{url: 'ftp://h/x', secret: s}]}", "webhooks.endpoints[0].url"},
		{"relative url", "webhooks: {endpoints: [{url: '/hook', secret: s}]}", "webhooks.endpoints[0].url"},
		{"no secret", "webhooks: {endpoints: [{url: 'http://127.0.0.1:1/'}]}", "webhooks.endpoints[0].secret"},
		{"unknown event type", "webhooks: {endpoints: [{url: 'http://127.0.0.1:1/', secret: s, events: [opened]}]}", "webhooks.endpoints[0].events[0]"},
		{"duplicate url", "webhooks: {endpoints: [{url: 'http://h/', secret: s}, {url: 'http://h/', secret: t}]}", "webhooks.endpoints[1].url"},
		{"name with a slash", "webhooks: {endpoints: [{name: a/b, url: 'http://h/1', secret: s}]}", "webhooks.endpoints[0].name"},
		{"name too long", "webhooks: {endpoints: [{name: " + strings.Repeat("n", 65) + ", url: 'http://h/1', secret: s}]}", "webhooks.endpoints[0].name"},
		{"duplicate name", "webhooks: {endpoints: [{name: crm, url: 'http://h/1', secret: s}, {name: crm, url: 'http://h/2', secret: s}]}", "webhooks.endpoints[1].name"},
		{"batch too big", "webhooks: {batch_size: 5000}", "webhooks.batch_size"},
		{"zero timeout", "webhooks: {timeout: 0s}", "webhooks.timeout"},
		{"retry max below initial", "webhooks: {retry: {initial: 1m, max_interval: 10s}}", "webhooks.retry.max_interval"},
	}
	// Each key is named as the label of its error.
	for i := range tests {
		tests[i].wantKey += ":"
	}
	testRefused(t, tests)
}

// A webhook URL may hold the receiver's token (path or query); the errors
// about it, which reach the log on a reload, show no more than the host.
func TestWebhooks_URLErrorsHideTheToken(t *testing.T) {
	t.Parallel()
	_, err := Load(writeConfig(t, `
webhooks:
  endpoints:
    - {url: "https://hooks.example.com/T0/B0/Xq7PathSecret?token=Wm4QuerySecret", secret: s}
    - {url: "https://hooks.example.com/T0/B0/Xq7PathSecret?token=Wm4QuerySecret", secret: s}
    - {url: "ftp://files.example.com/Hv8FtpSecret", secret: s}
`))
	if err == nil {
		t.Fatal("a duplicate and an ftp URL accepted")
	}
	msg := err.Error()
	if strings.Contains(msg, "Secret") {
		t.Errorf("the error shows the URL's token: %s", msg)
	}
	for _, want := range []string{`webhooks.endpoints[1].url: is listed twice (got "https://hooks.example.com/..."`, "webhooks.endpoints[2].url"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not name %s", msg, want)
		}
	}
}

// name is optional; when set, it is loaded as written.
func TestWebhooks_NameLoads(t *testing.T) {
	t.Parallel()
	c, err := Load(writeConfig(t, `
webhooks:
  endpoints:
    - {name: crm-prod_1.x, url: "https://hooks.example.com/T0/B0/tok", secret: s}
    - {url: "https://hooks.example.com/other", secret: s}
`))
	if err != nil {
		t.Fatal(err)
	}
	if eps := c.Webhooks.Endpoints; eps[0].Name != "crm-prod_1.x" || eps[1].Name != "" {
		t.Errorf("names %q, %q", eps[0].Name, eps[1].Name)
	}
}
