package configs

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
)

//go:embed defaults.yaml
var defaultsYAML []byte

// EnvPrefix is the prefix of environment variables that override config
// keys: delivery.retry.initial is MXOUT_DELIVERY_RETRY_INITIAL.
const EnvPrefix = "MXOUT"

// keyDelimiter separates the levels of a key inside viper.
const keyDelimiter = "::"

// Load reads the embedded defaults, then the YAML file at path (if path is
// not empty), then MXOUT_* environment variables, and validates the result.
// Unknown keys are errors, so a typo never silently falls back to a default.
func Load(path string) (*Config, error) {
	// Keys are split on "::", not viper's default ".", because map keys such
	// as dkim.domains.<domain> and delivery.domains.<name> contain dots: with "." viper would read
	// "example.com" as the nested keys "example" and "com".
	v := viper.NewWithOptions(viper.KeyDelimiter(keyDelimiter))
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(defaultsYAML)); err != nil {
		return nil, fmt.Errorf("embedded defaults: %w", err)
	}
	if path != "" {
		f, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read config: %w", err)
		}
		if err := v.MergeConfig(bytes.NewReader(f)); err != nil {
			return nil, fmt.Errorf("parse config %s: %w", path, err)
		}
	}
	v.SetEnvPrefix(EnvPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(keyDelimiter, "_"))
	v.AutomaticEnv()

	var c Config
	err := v.UnmarshalExact(&c, viper.DecodeHook(mapstructure.ComposeDecodeHookFunc(
		durationHook,
		byteSizeHook,
		prefixHook,
		mapstructure.TextUnmarshallerHookFunc(),
		mapstructure.StringToSliceHookFunc(","),
	)))
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", describe(path), cleanDecodeError(err))
	}
	if err := c.fillDerived(); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", describe(path), err)
	}
	return &c, nil
}

// Defaults returns the embedded default configuration, as `mxout serve`
// without --config runs it.
func Defaults() (*Config, error) { return Load("") }

// describe names where the config came from, for errors: the file (or
// the embedded defaults) and the MXOUT_* variables set, so that a bad
// value from the environment is not blamed on the file.
func describe(path string) string {
	where := path
	if path == "" {
		where = "(embedded defaults)"
	}
	var vars []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, EnvPrefix+"_") && name != EnvPrefix+"_CONFIG" {
			vars = append(vars, name)
		}
	}
	if len(vars) == 0 {
		return where
	}
	slices.Sort(vars)
	return where + " with environment " + strings.Join(vars, ", ")
}

// fillDerived sets the values whose default depends on another key.
func (c *Config) fillDerived() error {
	if c.Hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("hostname: not set and the system has none: %w", err)
		}
		c.Hostname = h
	}
	if c.Delivery.HeloName == "" {
		c.Delivery.HeloName = c.Hostname
	}
	if c.Sendmail.Domain == "" {
		c.Sendmail.Domain = c.Hostname
	}
	if c.Queue.MinFreeBytes == 0 {
		c.Queue.MinFreeBytes = c.AutoMinFreeBytes()
	}
	return nil
}

// AdminSocket is the path of admin.socket: as configured when absolute,
// else inside data_dir; "" when disabled.
func (c *Config) AdminSocket() string {
	if c.Admin.Socket == "" || filepath.IsAbs(c.Admin.Socket) {
		return c.Admin.Socket
	}
	return filepath.Join(c.DataDir, c.Admin.Socket)
}

// AutoMinFreeBytes is the disk reserve used when queue.min_free_bytes is 0:
// enough for badger to open every memtable file and a new value-log file,
// plus one message of the largest accepted size. Below it, badger could
// fault (SIGBUS) on a page it cannot back, so the queue refuses new mail
// before that happens.
func (c *Config) AutoMinFreeBytes() ByteSize {
	b := c.Queue.Badger
	return ByteSize(int64(b.NumMemtables+1)*int64(b.MemtableBytes)+2*int64(b.ValueLogFileBytes)) +
		2*c.Submission.MaxMessageBytes
}

var (
	invalidKeys = regexp.MustCompile(`^'([^']*)' has invalid keys: (.*)$`)
	// badValue is a value a decode hook refused: 'key' message.
	badValue = regexp.MustCompile(`^'([^']*)' (.*)$`)
	// mapIndex is a map key in a decoder's key path: domains[example.com].
	mapIndex = regexp.MustCompile(`\[([^\]]*[^\]0-9][^\]]*)\]`)
)

// cleanDecodeError turns mapstructure's multi-line report into one line
// per problem, each naming the full key.
func cleanDecodeError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "decoding failed due to the following error(s):")
	var out []string
	for _, line := range strings.Split(msg, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if m := invalidKeys.FindStringSubmatch(line); m != nil {
			var keys []string
			for _, k := range strings.Split(m[2], ", ") {
				if m[1] != "" {
					k = m[1] + "." + k
				}
				keys = append(keys, k)
			}
			line = "unknown key " + strings.Join(keys, ", unknown key ")
		} else if m := badValue.FindStringSubmatch(line); m != nil {
			// As the validator names keys: key: problem.
			line = mapIndex.ReplaceAllString(m[1], ".$1") + ": " + m[2]
		}
		out = append(out, strings.ReplaceAll(line, "'", ""))
	}
	return errors.New(strings.Join(out, "; "))
}

// durationHook parses durations with an error that shows the bad value.
func durationHook(from, to reflect.Type, data any) (any, error) {
	if to != reflect.TypeOf(time.Duration(0)) || from.Kind() != reflect.String {
		return data, nil
	}
	d, err := time.ParseDuration(strings.TrimSpace(data.(string)))
	if err != nil {
		return nil, fmt.Errorf("%q is not a duration (use 30s, 5m, 4h)", data)
	}
	return d, nil
}

// isSection reports whether t holds keys of its own (a struct with
// mapstructure tags), as opposed to a value written as one scalar
// (HostPort, Rate, netip.Prefix).
func isSection(t reflect.Type) bool {
	if t.Kind() != reflect.Struct {
		return false
	}
	for i := 0; i < t.NumField(); i++ {
		if t.Field(i).Tag.Get("mapstructure") != "" {
			return true
		}
	}
	return false
}

// Keys lists every leaf key of the schema in dotted form (list elements as
// "name[]"), in declaration order. Used to check the example file is
// complete and to document the schema.
func Keys() []string {
	var out []string
	var walk func(prefix string, t reflect.Type)
	walk = func(prefix string, t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name := f.Tag.Get("mapstructure")
			if name == "" {
				continue
			}
			key := name
			if prefix != "" {
				key = prefix + "." + name
			}
			ft := f.Type
			switch {
			case isSection(ft):
				walk(key, ft)
			case ft.Kind() == reflect.Slice && isSection(ft.Elem()):
				walk(key+"[]", ft.Elem())
			case ft.Kind() == reflect.Map && isSection(ft.Elem()):
				walk(key+".<name>", ft.Elem())
			default:
				out = append(out, key)
			}
		}
	}
	walk("", reflect.TypeOf(Config{}))
	return out
}
