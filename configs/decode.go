package configs

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
)

// decodeHook converts what YAML and the environment give (strings,
// numbers, booleans, lists, mappings) into the config's types. Every
// refusal shows the value, and the decoder names its key.
func decodeHook() mapstructure.DecodeHookFunc {
	return mapstructure.ComposeDecodeHookFunc(
		listHook,
		strictHook,
		durationHook,
		byteSizeHook,
		prefixHook,
		mapstructure.TextUnmarshallerHookFunc(),
		scalarHook,
	)
}

var textUnmarshaler = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()

// isText reports whether t is written as one string and parsed by its
// UnmarshalText (HostPort, Rate, TLSMode, netip.Addr).
func isText(t reflect.Type) bool { return reflect.PointerTo(t).Implements(textUnmarshaler) }

// listHook splits a string into a list where a list of scalars is
// wanted: an environment variable holds a list as comma-separated
// values (MXOUT_RESOLVER_SERVERS=10.0.0.53:53,10.0.0.54:53).
func listHook(from, to reflect.Type, data any) (any, error) {
	if from.Kind() != reflect.String || to.Kind() != reflect.Slice || isSection(to.Elem()) || isText(to) {
		return data, nil
	}
	s := strings.TrimSpace(data.(string))
	if s == "" {
		return []string{}, nil
	}
	parts := strings.Split(s, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts, nil
}

// strictHook refuses the conversions the decoder would otherwise make
// silently (true as 1, 2.5 as 2, true as the text "1"), and a scalar
// where a list or a mapping belongs or the reverse; it hands a number
// meant for a type parsed from text (a TLS mode, an address) to that
// parser as its text, so that it is checked.
func strictHook(from, to reflect.Type, data any) (any, error) {
	fk := from.Kind()
	scalar := fk != reflect.Map && fk != reflect.Slice && fk != reflect.Struct
	switch {
	case isText(to) && to.Kind() != reflect.Slice:
		if !scalar {
			return nil, fmt.Errorf("%s is not %s", shape(fk), want(to))
		}
		if fk != reflect.String {
			return fmt.Sprint(data), nil
		}
	case isSection(to) || to.Kind() == reflect.Map:
		if scalar {
			return nil, fmt.Errorf("%s is not a mapping (of keys and values)", printable(data))
		}
	case to.Kind() == reflect.Slice:
		if fk == reflect.Map || fk == reflect.Struct || scalar && isSection(to.Elem()) {
			return nil, fmt.Errorf("%s is not a list", printableOrShape(data, fk))
		}
	case !scalar:
		return nil, fmt.Errorf("%s is not %s", shape(fk), want(to))
	case to.Kind() == reflect.Bool:
		if fk != reflect.Bool && fk != reflect.String {
			return nil, fmt.Errorf("%v is not true or false", data)
		}
	case fk == reflect.Bool && to.Kind() == reflect.String:
		return nil, fmt.Errorf("%v is not text but a boolean; quote it (\"%v\") if the text is meant", data, data)
	case fk == reflect.Bool:
		return nil, fmt.Errorf("%v is not %s", data, want(to))
	case to == reflect.TypeOf(time.Duration(0)) && fk != reflect.String:
		// A bare number would be nanoseconds: surely not what was meant,
		// except 0 (off).
		if !reflect.ValueOf(data).IsZero() {
			return nil, fmt.Errorf("%v is not a duration (use 30s, 5m, 4h)", data)
		}
	case isWhole(to) && (fk == reflect.Float32 || fk == reflect.Float64):
		if f := reflect.ValueOf(data).Float(); f != float64(int64(f)) {
			return nil, fmt.Errorf("%v is not a whole number", data)
		}
	}
	return data, nil
}

// scalarHook parses a string into a number or a boolean (a value from
// the environment, or quoted in YAML), with an error that shows it.
func scalarHook(from, to reflect.Type, data any) (any, error) {
	if from.Kind() != reflect.String {
		return data, nil
	}
	s := strings.TrimSpace(data.(string))
	switch k := to.Kind(); {
	case k == reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not true or false", data)
		}
		return b, nil
	case k >= reflect.Int && k <= reflect.Int64:
		n, err := strconv.ParseInt(s, 10, to.Bits())
		if err != nil {
			return nil, fmt.Errorf("%q is not %s", data, want(to))
		}
		return reflect.ValueOf(n).Convert(to).Interface(), nil
	case k >= reflect.Uint && k <= reflect.Uint64:
		n, err := strconv.ParseUint(s, 10, to.Bits())
		if err != nil {
			return nil, fmt.Errorf("%q is not %s", data, want(to))
		}
		return reflect.ValueOf(n).Convert(to).Interface(), nil
	case k == reflect.Float32 || k == reflect.Float64:
		f, err := strconv.ParseFloat(s, to.Bits())
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", data)
		}
		return reflect.ValueOf(f).Convert(to).Interface(), nil
	}
	return data, nil
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

func isWhole(t reflect.Type) bool {
	k := t.Kind()
	return k >= reflect.Int && k <= reflect.Uint64
}

// want names what a value of type t is written as.
func want(t reflect.Type) string {
	switch {
	case t == reflect.TypeOf(time.Duration(0)):
		return "a duration (30s, 5m, 4h)"
	case t == reflect.TypeOf(ByteSize(0)):
		return "a size (bytes, or a number with KiB, MiB, GiB, KB, MB, GB)"
	case isText(t), t.Kind() == reflect.String:
		return "text"
	case isWhole(t):
		return "a whole number"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "a number"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() == reflect.Slice:
		return "a list"
	}
	return "a mapping (of keys and values)"
}

// shape names a list or a mapping as YAML has them.
func shape(k reflect.Kind) string {
	if k == reflect.Slice {
		return "a list"
	}
	return "a mapping"
}

func printableOrShape(data any, k reflect.Kind) string {
	if k == reflect.Map || k == reflect.Struct {
		return "a mapping"
	}
	return fmt.Sprint(printable(data))
}

var (
	// mapIndex is a map key in a decoder's key path: domains[example.com].
	mapIndex = regexp.MustCompile(`\[([^\]]*[^\]0-9][^\]]*)\]`)
)

// decodeProblems turns the decoder's errors into one problem per key,
// each naming the full key as the validator does (map keys after a dot).
func decodeProblems(err error) []fieldError {
	var out []fieldError
	var walk func(err error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var de *mapstructure.DecodeError
		if !errors.As(err, &de) {
			if w := errors.Unwrap(err); w != nil && w != err {
				walk(w)
				return
			}
			out = append(out, fieldError{rule: err.Error(), value: noValue})
			return
		}
		key := mapIndex.ReplaceAllString(de.Name(), ".$1")
		msg := de.Unwrap().Error()
		if keys, ok := strings.CutPrefix(msg, "has invalid keys: "); ok {
			for _, k := range strings.Split(keys, ", ") {
				if key != "" {
					k = key + "." + k
				}
				out = append(out, fieldError{key: k, rule: "unknown key", value: noValue, unknown: true})
			}
			return
		}
		out = append(out, fieldError{key: key, rule: strings.ReplaceAll(msg, "'", ""), value: noValue})
	}
	walk(err)
	return out
}
