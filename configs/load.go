package configs

import (
	"bytes"
	_ "embed"
	"maps"

	"fmt"
	"os"
	"path/filepath"
	"reflect"

	"slices"
	"strings"

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
// Unknown keys and unknown MXOUT_* variables are errors, so a typo never
// silently falls back to a default. Each error names its key, the bad
// value, and the file's line or the variable it came from.
func Load(path string) (*Config, error) { return load(path, os.Environ()) }

// load is Load with the environment given as KEY=value strings.
func load(path string, environ []string) (*Config, error) {
	// Keys are split on "::", not viper's default ".", because map keys such
	// as dkim.domains.<domain> and delivery.domains.<name> contain dots: with "." viper would read
	// "example.com" as the nested keys "example" and "com".
	v := viper.NewWithOptions(viper.KeyDelimiter(keyDelimiter))
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(defaultsYAML)); err != nil {
		return nil, fmt.Errorf("embedded defaults: %w", err)
	}
	var from origins
	if path != "" {
		f, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read config: %w", err)
		}
		if err := v.MergeConfig(bytes.NewReader(f)); err != nil {
			return nil, fmt.Errorf("parse config %s: %w", path, err)
		}
		doc := parseYAML(f)
		from.lines = fileLines(doc)
		if problems := shapeProblems(doc); len(problems) > 0 {
			return nil, fmt.Errorf("config %s: %w", path, joinProblems(problems, from))
		}
	}
	env, problems := readEnv(environ)
	from.env = make(map[string]string, len(env))
	for key, e := range env {
		from.env[key] = e.name
		// Set overrides the file and the defaults, as the environment does.
		v.Set(strings.ReplaceAll(key, ".", keyDelimiter), e.value)
	}
	where := describe(path, from.env)
	if len(problems) > 0 {
		return nil, fmt.Errorf("config %s: %w", where, joinProblems(problems, from))
	}

	var c Config
	if err := v.UnmarshalExact(&c, viper.DecodeHook(decodeHook())); err != nil {
		return nil, fmt.Errorf("config %s: %w", where, joinProblems(decodeProblems(err), from))
	}
	if err := c.fillDerived(); err != nil {
		return nil, err
	}
	if problems := c.problems(); len(problems) > 0 {
		return nil, fmt.Errorf("config %s: %w", where, joinProblems(problems, from))
	}
	return &c, nil
}

// Defaults returns the embedded default configuration, as `mxout serve`
// without --config runs it.
func Defaults() (*Config, error) { return Load("") }

// describe names where the config came from, for errors: the file (or
// the embedded defaults) and the MXOUT_* variables set, so that a bad
// value from the environment is not blamed on the file.
func describe(path string, env map[string]string) string {
	where := path
	if path == "" {
		where = "(embedded defaults)"
	}
	if len(env) == 0 {
		return where
	}
	return where + " with environment " + strings.Join(slices.Sorted(maps.Values(env)), ", ")
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
	for i := range c.Submission.Listeners {
		if c.Submission.Listeners[i].TLS == "" {
			c.Submission.Listeners[i].TLS = TLSNone // the documented default
		}
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
	for _, k := range schema() {
		out = append(out, k.key)
	}
	return out
}

// schemaKey is one leaf key of the schema and the type of its value.
type schemaKey struct {
	key string
	typ reflect.Type
}

// schema lists the leaf keys of Config, as Keys names them.
func schema() []schemaKey {
	var out []schemaKey
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
				out = append(out, schemaKey{key, ft})
			}
		}
	}
	walk("", reflect.TypeOf(Config{}))
	return out
}
