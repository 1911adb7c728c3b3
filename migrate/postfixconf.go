package migrate

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// mainCF is a parsed main.cf: parameters in file order, the last of a
// repeated name winning, as in Postfix.
type mainCF struct {
	order  []string
	values map[string]string
	bad    []string // lines that are not "name = value"
	// referenced are the parameters read through $name while expanding
	// others: they were used even if not imported themselves.
	referenced map[string]bool
}

// parseMainCF reads main.cf syntax (postconf(5)): "name = value" lines,
// continued on lines that start with white space; lines whose first
// non-blank character is '#' are comments.
func parseMainCF(text string) *mainCF {
	cf := &mainCF{values: map[string]string{}, referenced: map[string]bool{}}
	var name string
	for i, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "" || trimmed[0] == '#':
			continue
		case line[0] == ' ' || line[0] == '\t':
			if name != "" {
				cf.values[name] = strings.TrimSpace(cf.values[name] + " " + trimmed)
			}
			continue
		}
		n, v, ok := strings.Cut(line, "=")
		n = strings.TrimSpace(n)
		if !ok || n == "" || strings.ContainsAny(n, " \t") {
			cf.bad = append(cf.bad, fmt.Sprintf("line %d %q (not \"name = value\")", i+1, trimmed))
			name = ""
			continue
		}
		name = n
		if _, seen := cf.values[n]; !seen {
			cf.order = append(cf.order, n)
		}
		cf.values[n] = strings.TrimSpace(v)
	}
	return cf
}

// has reports whether main.cf sets name.
func (cf *mainCF) has(name string) bool {
	_, ok := cf.values[name]
	return ok
}

// get is the value of name with $parameter references expanded, and
// whether it is set at all (in main.cf, or through defaults).
func (cf *mainCF) get(name string, defaults map[string]string) (string, bool, error) {
	return cf.lookup(name, defaults, map[string]bool{})
}

// maxValue bounds an expanded value: references can double a value at
// each level.
const maxValue = 64 << 10

// lookup expands name; active holds the names being expanded, to find
// loops.
func (cf *mainCF) lookup(name string, defaults map[string]string, active map[string]bool) (string, bool, error) {
	v, ok := cf.values[name]
	if !ok {
		if v, ok = defaults[name]; !ok {
			return "", false, nil
		}
	}
	if active[name] {
		return "", true, fmt.Errorf("$%s refers to itself", name)
	}
	active[name] = true
	defer delete(active, name)
	out, err := cf.expand(v, defaults, active)
	return out, true, err
}

// expand replaces $name, ${name} and $(name), the conditional forms
// ${name?text} (text when name is not empty) and ${name:text} (text when
// it is), and $$ (a dollar sign).
func (cf *mainCF) expand(v string, defaults map[string]string, active map[string]bool) (string, error) {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if b.Len() > maxValue {
			return "", fmt.Errorf("the value grows beyond %d bytes when expanded", maxValue)
		}
		if v[i] != '$' || i+1 == len(v) {
			b.WriteByte(v[i])
			continue
		}
		i++
		var name, op, text string
		switch c := v[i]; {
		case c == '$':
			b.WriteByte('$')
			continue
		case c == '{' || c == '(':
			end := strings.IndexByte(v[i:], map[byte]byte{'{': '}', '(': ')'}[c])
			if end < 0 {
				return "", fmt.Errorf("unterminated %q in %q", v[i-1:i+1], v)
			}
			inner := v[i+1 : i+end]
			i += end
			name = inner
			if j := strings.IndexAny(inner, "?:"); j >= 0 {
				name, op, text = inner[:j], inner[j:j+1], inner[j+1:]
			}
		default:
			j := i
			for j < len(v) && (isAlnum(v[j]) || v[j] == '_') {
				j++
			}
			if j == i {
				b.WriteByte('$')
				i--
				continue
			}
			name = v[i:j]
			i = j - 1
		}
		cf.referenced[name] = true
		val, ok, err := cf.lookup(name, defaults, active)
		if err != nil {
			return "", err
		}
		switch {
		case op == "?" && val != "", op == ":" && val == "":
			t, err := cf.expand(text, defaults, active)
			if err != nil {
				return "", err
			}
			b.WriteString(t)
		case op == "" && !ok:
			return "", fmt.Errorf("$%s is not set in this file", name)
		case op == "":
			b.WriteString(val)
		}
	}
	return b.String(), nil
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// parseTime reads a Postfix time value: a number with an optional unit
// s, m, h, d or w; a bare number is in unit (postconf(5) gives each
// parameter's default unit).
func parseTime(v string, unit byte) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, fmt.Errorf("empty time value")
	}
	if c := v[len(v)-1]; c < '0' || c > '9' {
		unit, v = c, v[:len(v)-1]
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a time value", v)
	}
	per := map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour, 'w': 7 * 24 * time.Hour}[unit]
	if per == 0 {
		return 0, fmt.Errorf("unknown time unit %q (want s, m, h, d or w)", unit)
	}
	if n > int64(100*365*24*time.Hour/per) {
		return 0, fmt.Errorf("%d%c is too long", n, unit)
	}
	return time.Duration(n) * per, nil
}

// formatDuration spells d as mxout's config does: 5m, 4h, 120h, 4000s.
func formatDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}

// words splits a Postfix list value on white space and commas.
func words(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == '\t' || r == ',' || r == '\n' })
}
