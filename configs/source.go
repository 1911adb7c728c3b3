package configs

import (
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// A key's value comes from the embedded defaults, the config file or an
// MXOUT_* environment variable (in increasing priority). An error about
// a key says which file line or variable it came from.

// origins maps keys to where their values were set.
type origins struct {
	// lines are the file's lines of its keys (lowercase, as viper reads
	// them; list elements as key[i]).
	lines map[string]int
	// env are the variables that set keys.
	env map[string]string
}

// where says where key's value came from: "line 12" of the file, "from
// MXOUT_…", or "" (the defaults, or unknown).
func (o origins) where(key string) string {
	base := listIndex.ReplaceAllString(key, "")
	if name, ok := o.env[base]; ok {
		return "from " + name
	}
	if n, ok := o.lines[strings.ToLower(key)]; ok {
		return fmt.Sprintf("line %d", n)
	}
	return ""
}

// listIndex is a list element's index in a key: listeners[0].
var listIndex = regexp.MustCompile(`\[[0-9]+\].*$`)

// parseYAML parses a config file into its node tree, for lines and
// shapes; nil when it does not parse (viper reports the syntax error).
func parseYAML(data []byte) *yaml.Node {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
		return nil
	}
	return doc.Content[0]
}

// fileLines maps every key of a parsed YAML file to its line.
func fileLines(root *yaml.Node) map[string]int {
	lines := map[string]int{}
	var walk func(prefix string, n *yaml.Node)
	walk = func(prefix string, n *yaml.Node) {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := strings.ToLower(n.Content[i].Value)
				if prefix != "" {
					k = prefix + "." + k
				}
				lines[k] = n.Content[i].Line
				walk(k, n.Content[i+1])
			}
		case yaml.SequenceNode:
			for i, item := range n.Content {
				k := fmt.Sprintf("%s[%d]", prefix, i)
				lines[k] = item.Line
				walk(k, item)
			}
		}
	}
	if root != nil {
		walk("", root)
	}
	return lines
}

// shapeProblems finds the sections and maps of a parsed config file that
// are written as something else (a word, a list). The decoder never sees
// them: viper drops a file's value whose shape differs from the
// defaults', so `delivery: x` would silently mean the defaults.
func shapeProblems(root *yaml.Node) []fieldError {
	var out []fieldError
	var walk func(key string, n *yaml.Node, t reflect.Type)
	walk = func(key string, n *yaml.Node, t reflect.Type) {
		for n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias // *anchor: the value it names
		}
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			return // empty: the defaults
		}
		switch {
		case isSection(t) || t.Kind() == reflect.Map:
			if n.Kind != yaml.MappingNode {
				out = append(out, fieldError{key: key, value: noValue, rule: nodeShape(n) + " is not a mapping (of keys and values)"})
				return
			}
			for i := 0; i+1 < len(n.Content); i += 2 {
				name := strings.ToLower(n.Content[i].Value)
				sub := name
				if key != "" {
					sub = key + "." + name
				}
				if t.Kind() == reflect.Map {
					walk(sub, n.Content[i+1], t.Elem())
				} else if f, ok := fieldByTag(t, name); ok {
					walk(sub, n.Content[i+1], f.Type)
				}
			}
		case t.Kind() == reflect.Slice && isSection(t.Elem()) && n.Kind == yaml.SequenceNode:
			for i, item := range n.Content {
				walk(fmt.Sprintf("%s[%d]", key, i), item, t.Elem())
			}
		}
	}
	if root != nil {
		walk("", root, reflect.TypeOf(Config{}))
	}
	return out
}

// nodeShape names what a YAML node holds, for errors: a scalar quoted.
func nodeShape(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	}
	return strconv.Quote(n.Value)
}

// fieldByTag finds the field of struct t whose mapstructure tag is name.
func fieldByTag(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		if f := t.Field(i); f.Tag.Get("mapstructure") == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// envName is the environment variable that sets key.
func envName(key string) string {
	return EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// EnvUnsettable lists the keys that no environment variable can set, as
// their variables would be named: lists of mappings (submission.listeners)
// and maps (delivery.domains, sendmail.aliases), with what they are.
func EnvUnsettable() map[string]string {
	out := map[string]string{}
	for _, k := range schema() {
		if base, _, ok := strings.Cut(k.key, "[]"); ok && !strings.Contains(base, "<name>") {
			out[base] = "a list of mappings"
		} else if base, _, ok := strings.Cut(k.key, ".<name>"); ok {
			out[base] = "a map"
		} else if k.typ.Kind() == reflect.Map {
			out[k.key] = "a map"
		}
	}
	return out
}

// envKeys maps each environment variable that may be set to its key:
// every key but those in EnvUnsettable. A list is set as comma-separated
// values.
func envKeys() map[string]string {
	out := map[string]string{}
	for _, k := range schema() {
		if !strings.Contains(k.key, "[]") && !strings.Contains(k.key, "<name>") && k.typ.Kind() != reflect.Map {
			out[envName(k.key)] = k.key
		}
	}
	return out
}

// envValue is an environment variable that sets a key.
type envValue struct{ name, value string }

// readEnv finds the MXOUT_* variables in environ (KEY=value), except
// MXOUT_CONFIG: the keys they set, or an error for each that sets
// nothing (a typo would otherwise be ignored silently). An empty
// variable sets nothing, as if unset.
func readEnv(environ []string) (set map[string]envValue, problems []fieldError) {
	known := envKeys()
	unsettable := EnvUnsettable()
	set = map[string]envValue{}
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix+"_") || name == EnvPrefix+"_CONFIG" {
			continue
		}
		if key, ok := known[name]; ok {
			if value != "" {
				set[key] = envValue{name, value}
			}
			continue
		}
		problems = append(problems, fieldError{key: name, value: noValue, rule: envProblem(name, known, unsettable)})
	}
	slices.SortFunc(problems, func(a, b fieldError) int { return strings.Compare(a.key, b.key) })
	return set, problems
}

// envProblem says why name sets no key.
func envProblem(name string, known, unsettable map[string]string) string {
	for _, base := range slices.Sorted(maps.Keys(unsettable)) {
		if v := envName(base); name == v || strings.HasPrefix(name, v+"_") {
			return fmt.Sprintf("%s is %s, which cannot be set from the environment; set it in the config file", base, unsettable[base])
		}
	}
	best, bestDist := "", 4
	for _, v := range slices.Sorted(maps.Keys(known)) {
		if d := editDistance(name, v); d < bestDist {
			best, bestDist = v, d
		}
	}
	if best != "" {
		return fmt.Sprintf("sets no config key (did you mean %s, %s?)", best, known[best])
	}
	return "sets no config key (see docs/configuration.md)"
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
