package migrate

import (
	"bytes"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ReadFile reads a file the input refers to (a table, /etc/mailname).
// Tests map paths into testdata; the command passes os.ReadFile.
type ReadFile func(name string) ([]byte, error)

// doc is the YAML being built: a mapping tree whose values carry line
// comments, plus header and footer comment lines.
type doc struct {
	root    *yaml.Node
	header  []string
	notes   []string // remarks worth knowing
	skipped []string // settings of the input that were not imported, and why
}

func newDoc(header ...string) *doc {
	return &doc{root: &yaml.Node{Kind: yaml.MappingNode}, header: header}
}

// set puts value at path (each element one mapping key), with comment as
// the value's line comment.
func (d *doc) set(path []string, value *yaml.Node, comment string) {
	n := d.root
	for i, key := range path {
		child := lookup(n, key)
		if child == nil {
			child = &yaml.Node{Kind: yaml.MappingNode}
			if i == len(path)-1 {
				child = value
			}
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, child)
		} else if i == len(path)-1 {
			*child = *value
		}
		n = child
	}
	if comment != "" {
		n.LineComment = strings.TrimSuffix(commentLine(comment), "\n")
	}
}

func lookup(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// note adds a remark to the footer.
func (d *doc) note(format string, args ...any) {
	d.notes = append(d.notes, fmt.Sprintf(format, args...))
}

// skip lists a setting of the input that was not imported, and why.
func (d *doc) skip(setting, why string) {
	d.skipped = append(d.skipped, setting+": "+why)
}

// bytes renders the document: header comments, the YAML, the notes.
func (d *doc) bytes() []byte {
	var b bytes.Buffer
	for _, h := range d.header {
		b.WriteString(commentLine(h))
	}
	if len(d.root.Content) > 0 {
		enc := yaml.NewEncoder(&b)
		enc.SetIndent(2)
		_ = enc.Encode(d.root) // a tree of scalars, maps and lists always encodes
		enc.Close()
	} else {
		b.WriteString("{}\n")
	}
	for _, part := range []struct {
		title string
		lines []string
	}{{"Notes:", d.notes}, {"Not imported:", d.skipped}} {
		if len(part.lines) == 0 {
			continue
		}
		b.WriteString("\n" + commentLine(part.title))
		for _, l := range part.lines {
			b.WriteString(commentLine("  " + l))
		}
	}
	return b.Bytes()
}

// commentLine makes s one comment line, whatever it contains.
func commentLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if yamlPrintable(r) {
			return r
		}
		return ' '
	}, s)
	if s == "" {
		return "#\n"
	}
	return "# " + s + "\n"
}

func str(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

func num(n int64) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: fmt.Sprint(n)}
}

func list(items []string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	for _, s := range items {
		n.Content = append(n.Content, str(s))
	}
	return n
}

// key splits a dotted config key into its path.
func key(k string) []string { return strings.Split(k, ".") }

// yamlSeq builds a block sequence of small mappings.
type yamlSeq struct{ items []*yaml.Node }

// add appends a mapping of a DKIM key's selector and private_key_file.
func (s *yamlSeq) add(fields map[string]string) {
	m := &yaml.Node{Kind: yaml.MappingNode}
	for _, k := range []string{"selector", "private_key_file"} {
		if v, ok := fields[k]; ok {
			m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, str(v))
		}
	}
	s.items = append(s.items, m)
}

func (s *yamlSeq) node() *yaml.Node { return &yaml.Node{Kind: yaml.SequenceNode, Content: s.items} }

// yamlPrintable reports whether YAML allows r in a comment (YAML 1.2
// c-printable, without line breaks and the byte order mark).
func yamlPrintable(r rune) bool {
	switch {
	case r == '\t', r >= 0x20 && r <= 0x7e, r == 0x85:
		return true
	case r >= 0xa0 && r <= 0xd7ff, r >= 0xe000 && r <= 0xfffd && r != 0xfeff, r >= 0x10000 && r <= 0x10ffff:
		return true
	}
	return false
}
