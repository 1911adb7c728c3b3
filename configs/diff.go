package configs

import (
	"reflect"
	"slices"
	"sort"
)

// Diff lists the keys whose values differ between a and b, in schema
// order: leaf keys as Keys names them, a list as a whole
// (submission.listeners), and an entry of a map of sections by its name
// (delivery.domains.example.com.rate; the entry itself when only one side
// has it). It names keys, never values, so secrets stay out of logs.
func Diff(a, b *Config) []string {
	var out []string
	diffValue("", reflect.ValueOf(*a), reflect.ValueOf(*b), &out)
	return out
}

func diffValue(key string, a, b reflect.Value, out *[]string) {
	t := a.Type()
	switch {
	case isSection(t):
		for i := 0; i < t.NumField(); i++ {
			name := t.Field(i).Tag.Get("mapstructure")
			if name == "" {
				continue
			}
			sub := name
			if key != "" {
				sub = key + "." + name
			}
			diffValue(sub, a.Field(i), b.Field(i), out)
		}
	case t.Kind() == reflect.Map && isSection(t.Elem()):
		names := map[string]bool{}
		for _, m := range []reflect.Value{a, b} {
			for _, k := range m.MapKeys() {
				names[k.String()] = true
			}
		}
		sorted := make([]string, 0, len(names))
		for n := range names {
			sorted = append(sorted, n)
		}
		sort.Strings(sorted)
		for _, n := range sorted {
			k := reflect.ValueOf(n)
			av, bv := a.MapIndex(k), b.MapIndex(k)
			if !av.IsValid() || !bv.IsValid() {
				*out = append(*out, key+"."+n)
				continue
			}
			diffValue(key+"."+n, av, bv, out)
		}
	default:
		if !equalValues(a, b) {
			*out = append(*out, key)
		}
	}
}

// equalValues compares two values of a key; an empty list equals none.
func equalValues(a, b reflect.Value) bool {
	if a.Kind() == reflect.Slice && a.Len() == 0 && b.Len() == 0 {
		return true
	}
	if a.Kind() == reflect.Map && a.Len() == 0 && b.Len() == 0 {
		return true
	}
	return reflect.DeepEqual(a.Interface(), b.Interface())
}

// Covered reports whether key is one of prefixes or inside one of them
// (a key under a section, a list element's field, a map entry).
func Covered(key string, prefixes ...string) bool {
	return slices.ContainsFunc(prefixes, func(p string) bool {
		return key == p || len(key) > len(p) && key[:len(p)] == p && (key[len(p)] == '.' || key[len(p)] == '[')
	})
}
