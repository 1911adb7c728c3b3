package configs

import (
	"bytes"
	"encoding"
	"fmt"
	"reflect"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"
)

// secretKeys are printed as "(set)" instead of their value.
var secretKeys = map[string]bool{"password": true, "token": true, "secret": true}

// Render prints the effective configuration as YAML in schema order, with
// durations and sizes spelled as in the config file and secrets hidden.
// The output is itself a valid config file.
func Render(c *Config) ([]byte, error) {
	node := renderValue(reflect.ValueOf(*c), "")
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(node); err != nil {
		return nil, fmt.Errorf("render config: %w", err)
	}
	return buf.Bytes(), nil
}

func renderValue(v reflect.Value, name string) *yaml.Node {
	switch {
	case v.Type() == reflect.TypeOf(time.Duration(0)):
		return scalar(v.Interface().(time.Duration).String(), "!!str")
	case v.Type().Implements(textMarshaler):
		text, err := v.Interface().(encoding.TextMarshaler).MarshalText()
		if err != nil {
			text = []byte(fmt.Sprint(v.Interface()))
		}
		return scalar(string(text), "!!str")
	case v.Kind() == reflect.Struct:
		n := &yaml.Node{Kind: yaml.MappingNode}
		for i := 0; i < v.NumField(); i++ {
			key := v.Type().Field(i).Tag.Get("mapstructure")
			if key == "" {
				continue
			}
			n.Content = append(n.Content, scalar(key, "!!str"), renderValue(v.Field(i), key))
		}
		return n
	case v.Kind() == reflect.Slice:
		n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for i := 0; i < v.Len(); i++ {
			item := renderValue(v.Index(i), name)
			if item.Kind == yaml.MappingNode {
				n.Style = 0
			}
			n.Content = append(n.Content, item)
		}
		return n
	case v.Kind() == reflect.Map:
		n := &yaml.Node{Kind: yaml.MappingNode}
		iter := v.MapRange()
		for iter.Next() {
			n.Content = append(n.Content, scalar(fmt.Sprint(iter.Key().Interface()), "!!str"), renderValue(iter.Value(), ""))
		}
		sortMapping(n)
		return n
	case v.Kind() == reflect.String:
		if secretKeys[name] && v.String() != "" {
			return scalar("(set)", "!!str")
		}
		return scalar(v.String(), "!!str")
	case v.Kind() == reflect.Bool:
		return scalar(strconv.FormatBool(v.Bool()), "")
	case v.CanInt():
		return scalar(strconv.FormatInt(v.Int(), 10), "")
	case v.CanFloat():
		return scalar(strconv.FormatFloat(v.Float(), 'g', -1, 64), "")
	default:
		return scalar(fmt.Sprint(v.Interface()), "!!str")
	}
}

var textMarshaler = reflect.TypeOf((*encoding.TextMarshaler)(nil)).Elem()

func scalar(value, tag string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Value: value, Tag: tag}
}

// sortMapping orders a mapping node's keys so the output is stable.
func sortMapping(n *yaml.Node) {
	pairs := n.Content
	for i := 2; i < len(pairs); i += 2 {
		for j := i; j >= 2 && pairs[j].Value < pairs[j-2].Value; j -= 2 {
			pairs[j], pairs[j-2] = pairs[j-2], pairs[j]
			pairs[j+1], pairs[j-1] = pairs[j-1], pairs[j+1]
		}
	}
}
