package configs

import (
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/mxout/mxout/events"
)

// API configures the HTTP send API and its event feed.
type API struct {
	// Listen is host:port; empty disables the API.
	Listen HostPort `mapstructure:"listen" yaml:"listen"`
	// TLS, when both files are set, serves HTTPS.
	TLS APITLS `mapstructure:"tls" yaml:"tls"`
	// Keys may send; each is a bearer token known by its SHA-256.
	Keys []APIKey `mapstructure:"keys" yaml:"keys"`
}

// APITLS names the PEM certificate chain and key of the API's HTTPS.
type APITLS struct {
	CertFile string `mapstructure:"cert_file" yaml:"cert_file"`
	KeyFile  string `mapstructure:"key_file" yaml:"key_file"`
}

// APIKey is one application's credential, as `mxout api-key new` prints it.
type APIKey struct {
	// Name identifies the key in logs, events and webhook filters.
	Name string `mapstructure:"name" yaml:"name"`
	// TokenSHA256 is the hex SHA-256 of the bearer token; the token itself
	// is never stored.
	TokenSHA256 string `mapstructure:"token_sha256" yaml:"token_sha256"`
	// AllowedSenders are sender patterns, as for submission.users:
	// "*", "*@example.com", "a@example.com".
	AllowedSenders []string `mapstructure:"allowed_senders" yaml:"allowed_senders"`
}

// Events configures the delivery events kept for webhooks and the feed.
type Events struct {
	// Retention is how long an event is kept (and retried to webhooks).
	Retention time.Duration `mapstructure:"retention" yaml:"retention"`
}

// Webhooks configures the endpoints that delivery events are posted to.
type Webhooks struct {
	Endpoints []WebhookEndpoint `mapstructure:"endpoints" yaml:"endpoints"`
	// BatchSize is the most events in one POST.
	BatchSize int `mapstructure:"batch_size" yaml:"batch_size"`
	// Timeout bounds one POST, from connecting to the end of the answer.
	Timeout time.Duration `mapstructure:"timeout" yaml:"timeout"`
	Retry   WebhookRetry  `mapstructure:"retry" yaml:"retry"`
}

// WebhookEndpoint is one receiver of events.
type WebhookEndpoint struct {
	// Name, when set, is how logs and metrics name the endpoint; without
	// it they show the URL's scheme, host and port and a hash of the rest.
	Name string `mapstructure:"name" yaml:"name"`
	// URL is http:// or https://; set by the operator and trusted.
	URL string `mapstructure:"url" yaml:"url"`
	// Secret keys the HMAC-SHA256 of the Mxout-Signature header.
	Secret string `mapstructure:"secret" yaml:"secret"`
	// Events are the types sent; empty: all.
	Events []string `mapstructure:"events" yaml:"events"`
	// Keys, when not empty, limits the events to messages sent with these
	// API keys or SMTP users.
	Keys []string `mapstructure:"keys" yaml:"keys"`
}

// WebhookRetry is the backoff after a failed POST: Initial, doubling up
// to MaxInterval.
type WebhookRetry struct {
	Initial     time.Duration `mapstructure:"initial" yaml:"initial"`
	MaxInterval time.Duration `mapstructure:"max_interval" yaml:"max_interval"`
}

// Bounds of the API and webhook sections.
const (
	// MaxAPIKeys bounds api.keys: a request compares its token with each.
	MaxAPIKeys = 1000
	// MaxKeyNameLen bounds an API key's name, which events store.
	MaxKeyNameLen = 64
	// MaxWebhookEndpoints bounds webhooks.endpoints: each is a goroutine
	// and a label value of the webhook metrics.
	MaxWebhookEndpoints = 50
	// MaxWebhookNameLen bounds webhooks.endpoints[].name, a label value.
	MaxWebhookNameLen = 64
	// MaxWebhookBatch bounds webhooks.batch_size.
	MaxWebhookBatch = 1000
)

func (a *API) validate(v *validator) {
	hasTLS := a.TLS.CertFile != "" || a.TLS.KeyFile != ""
	if hasTLS {
		v.check(a.TLS.CertFile != "", "api.tls.cert_file", a.TLS.CertFile, "must be set with api.tls.key_file")
		v.check(a.TLS.KeyFile != "", "api.tls.key_file", a.TLS.KeyFile, "must be set with api.tls.cert_file")
	}
	if !a.Listen.IsZero() {
		v.check(hasTLS || a.Listen.IsLoopback(), "api.listen", a.Listen,
			"is not a loopback address: set api.tls.cert_file and api.tls.key_file, or the tokens would cross the network in clear")
		v.check(len(a.Keys) > 0, "api.keys", "[]", "must list a key when api.listen is set (make one with `mxout api-key new NAME`)")
	}
	v.check(len(a.Keys) <= MaxAPIKeys, "api.keys", len(a.Keys), fmt.Sprintf("must list at most %d keys", MaxAPIKeys))
	names, hashes := map[string]bool{}, map[string]bool{}
	for i, k := range a.Keys {
		key := fmt.Sprintf("api.keys[%d]", i)
		v.check(validKeyName(k.Name), key+".name", k.Name, fmt.Sprintf("must be 1 to %d letters, digits, '.', '_', '-' or '@'", MaxKeyNameLen))
		v.check(!names[k.Name], key+".name", k.Name, "is listed twice")
		names[k.Name] = true
		sum := strings.ToLower(k.TokenSHA256)
		raw, err := hex.DecodeString(sum)
		v.check(err == nil && len(raw) == 32, key+".token_sha256", k.TokenSHA256, "must be 64 hex digits (from `mxout api-key new`)")
		v.check(!hashes[sum], key+".token_sha256", k.TokenSHA256, "is the hash of another key's token")
		hashes[sum] = true
		for j, p := range k.AllowedSenders {
			v.check(validSenderPattern(p), fmt.Sprintf("%s.allowed_senders[%d]", key, j), p, `must be "*", "*@domain" or an address`)
		}
	}
}

// validKeyName accepts names that are safe in logs and label values.
func validKeyName(s string) bool { return isShortName(s, MaxKeyNameLen, "._-@") }

// validWebhookName accepts names that are safe as label values and in logs.
func validWebhookName(s string) bool { return isShortName(s, MaxWebhookNameLen, "._-") }

// isShortName reports whether s is 1 to max ASCII letters, digits and
// runes of punct.
func isShortName(s string, max int, punct string) bool {
	if s == "" || len(s) > max {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(punct, r)) {
			return false
		}
	}
	return true
}

func (e *Events) validate(v *validator) {
	v.check(e.Retention >= time.Minute, "events.retention", e.Retention, "must be at least 1m")
}

func (w *Webhooks) validate(v *validator) {
	v.check(len(w.Endpoints) <= MaxWebhookEndpoints, "webhooks.endpoints", len(w.Endpoints), fmt.Sprintf("must list at most %d endpoints", MaxWebhookEndpoints))
	urls, names := map[string]bool{}, map[string]bool{}
	for i, e := range w.Endpoints {
		key := fmt.Sprintf("webhooks.endpoints[%d]", i)
		// Errors show the URL up to its host: the rest may hold a token.
		v.check(validWebhookURL(e.URL), key+".url", urlOrigin(e.URL), "must be an http:// or https:// URL with a host")
		v.check(!urls[e.URL], key+".url", urlOrigin(e.URL), "is listed twice")
		urls[e.URL] = true
		if e.Name != "" {
			v.check(validWebhookName(e.Name), key+".name", e.Name, fmt.Sprintf("must be 1 to %d letters, digits, '.', '_' or '-'", MaxWebhookNameLen))
			v.check(!names[e.Name], key+".name", e.Name, "is the name of another endpoint")
			names[e.Name] = true
		}
		v.check(e.Secret != "", key+".secret", e.Secret, "must not be empty: receivers check the signature with it")
		for j, t := range e.Events {
			_, err := events.ParseType(t)
			v.check(err == nil, fmt.Sprintf("%s.events[%d]", key, j), t, "must be one of delivered, deferred, delayed, bounced, expired")
		}
		for j, k := range e.Keys {
			v.check(k != "" && len(k) <= 256 && !strings.ContainsFunc(k, isControl), fmt.Sprintf("%s.keys[%d]", key, j), k, "must be the name of an API key or an SMTP user")
		}
	}
	v.check(w.BatchSize >= 1 && w.BatchSize <= MaxWebhookBatch, "webhooks.batch_size", w.BatchSize, fmt.Sprintf("must be between 1 and %d", MaxWebhookBatch))
	v.check(w.Timeout >= 100*time.Millisecond && w.Timeout <= 5*time.Minute, "webhooks.timeout", w.Timeout, "must be between 100ms and 5m")
	v.check(w.Retry.Initial >= 100*time.Millisecond, "webhooks.retry.initial", w.Retry.Initial, "must be at least 100ms")
	v.check(w.Retry.MaxInterval >= w.Retry.Initial, "webhooks.retry.max_interval", w.Retry.MaxInterval, "must be at least webhooks.retry.initial")
}

// urlOrigin is s up to its host, then "/..." when there is more: what a
// config error may show of a webhook URL.
func urlOrigin(s string) string {
	u, err := url.Parse(s)
	if s == "" {
		return s
	}
	if err != nil || u.Host == "" {
		return "(not shown: not a URL with a host)"
	}
	origin := u.Scheme + "://" + u.Host
	if origin == s {
		return s
	}
	return origin + "/..."
}

func validWebhookURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.Fragment == ""
}

func isControl(r rune) bool { return r < ' ' || r == 0x7f }

// CheckAPIKey validates one api.keys entry, as `mxout api-key new` makes it.
func CheckAPIKey(k APIKey) error {
	v := &validator{}
	a := API{Keys: []APIKey{k}}
	a.validate(v)
	return v.err()
}
