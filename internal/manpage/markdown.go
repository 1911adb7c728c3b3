package manpage

import (
	"fmt"
	"regexp"
	"strings"
)

// Reference describes a man page made from a Markdown reference document.
type Reference struct {
	Title    string // "MXOUT.YAML"
	Name     string // "mxout.yaml"
	Summary  string // the NAME line's description
	Synopsis string // Markdown
	SeeAlso  string // Markdown
}

// FromMarkdown renders doc, a Markdown reference page that starts with a
// "# " title, as a man page. The title becomes DESCRIPTION, each "## "
// section a section of the page, and each table whose columns are key,
// default and meaning a list of keys (a wide three-column table does not
// fit a terminal). Links keep their text and lose their target, which is
// a file of docs/ that SeeAlso can point to.
func FromMarkdown(doc []byte, r Reference, h Header) ([]byte, error) {
	text := strings.ReplaceAll(string(doc), "\r\n", "\n")
	first, rest, _ := strings.Cut(text, "\n")
	if !strings.HasPrefix(first, "# ") {
		return nil, fmt.Errorf("%s: the document does not start with a \"# \" title", r.Name)
	}
	body, err := keyTablesToLists(rest)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.Name, err)
	}
	var md strings.Builder
	fmt.Fprintf(&md, "%% %q %q %q %q %q\n", r.Title, h.Section, h.Date, h.Source, h.Manual)
	fmt.Fprintf(&md, "# NAME\n%s \\- %s\n\n", r.Name, r.Summary)
	if r.Synopsis != "" {
		fmt.Fprintf(&md, "# SYNOPSIS\n%s\n\n", r.Synopsis)
	}
	fmt.Fprintf(&md, "# DESCRIPTION\n%s\n", unlink(body))
	if r.SeeAlso != "" {
		fmt.Fprintf(&md, "\n# SEE ALSO\n%s\n", r.SeeAlso)
	}
	return render(md.String()), nil
}

var link = regexp.MustCompile(`\[([^\]]+)\]\(([^)#\s]*)(#[^)\s]*)?\)`)

// unlink replaces each [text](file#anchor) by its text, followed by the
// file's name when the text does not already say it.
func unlink(md string) string {
	return link.ReplaceAllStringFunc(md, func(m string) string {
		s := link.FindStringSubmatch(m)
		text, file := s[1], s[2]
		if file == "" || strings.Contains(text, strings.TrimPrefix(file, "../")) || strings.Contains(file, "://") && text == file {
			return text
		}
		return text + " (" + strings.TrimPrefix(file, "../") + ")"
	})
}

// keyTablesToLists rewrites every "| key | default | meaning |" table of
// md as a definition list: the key, then its meaning and default.
func keyTablesToLists(md string) (string, error) {
	lines := strings.Split(md, "\n")
	var out []string
	for i := 0; i < len(lines); i++ {
		cells := tableCells(lines[i])
		if !isKeyHeader(cells) {
			out = append(out, lines[i])
			continue
		}
		if i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "|-") && !strings.HasPrefix(lines[i+1], "| -") {
			return "", fmt.Errorf("table at %q has no separator row", lines[i])
		}
		i += 2
		for ; i < len(lines) && strings.HasPrefix(lines[i], "|"); i++ {
			row := tableCells(lines[i])
			if len(row) != 3 {
				return "", fmt.Errorf("table row %q has %d cells, want 3", lines[i], len(row))
			}
			key, def, meaning := row[0], row[1], row[2]
			item := strings.TrimSuffix(meaning, ".")
			if def != "" && def != "—" {
				item += ". Default: " + def
			}
			out = append(out, key, ": "+item+".", "")
		}
		i-- // the line after the table is read again by the loop
	}
	return strings.Join(out, "\n"), nil
}

func isKeyHeader(cells []string) bool {
	return len(cells) == 3 && cells[0] == "key" && cells[1] == "default" && cells[2] == "meaning"
}

// tableCells splits a Markdown table row on the pipes outside `code`
// spans and backslash escapes, or returns nil for a line that is not a
// row.
func tableCells(line string) []string {
	line = strings.TrimSpace(line)
	if !strings.HasPrefix(line, "|") || !strings.HasSuffix(line, "|") || len(line) < 2 {
		return nil
	}
	line = line[1 : len(line)-1]
	var cells []string
	var cur strings.Builder
	code, escaped := false, false
	for _, r := range line {
		switch {
		case escaped:
			escaped = false
		case r == '\\':
			escaped = true
		case r == '`':
			code = !code
		case r == '|' && !code:
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
			continue
		}
		cur.WriteRune(r)
	}
	cells = append(cells, strings.TrimSpace(cur.String()))
	for i := range cells {
		cells[i] = strings.ReplaceAll(cells[i], `\|`, "|") // a pipe in a cell, escaped for the table
	}
	return cells
}
