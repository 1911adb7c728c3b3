// Package manpage renders mxout's man pages: one per command from the
// cobra command tree (cobra's doc package), and mxout.yaml(5) from the
// Markdown configuration reference, both through go-md2man, so each page
// is generated from the text a user already sees (--help, docs/).
package manpage

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"

	"github.com/cpuguy83/go-md2man/v2/md2man"
	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
	"github.com/spf13/pflag"
)

// Header is what a page's .TH line says.
type Header struct {
	Section string // "8"
	Date    string // "Dec 2026": when the page last changed
	Source  string // "mxout"
	Manual  string // "System Manager's Manual"
}

// Page is one generated man page.
type Page struct {
	Name string // file name, such as "mxout-serve.8"
	Roff []byte
}

// RootPage is what the root command's page says beyond its --help.
type RootPage struct {
	Description string // Markdown: the DESCRIPTION
	Sections    string // Markdown sections ("# FILES" ...) after COMMANDS
}

// Commands renders a page for root and for each of its descendants that
// --help lists, named after the command path ("mxout queue list" is
// mxout-queue-list.8). Root's page also lists every command, at every
// depth, under COMMANDS. The commands' texts are written for a terminal,
// so they are escaped for Markdown first, and indented blocks (option
// lists) kept as they are; root and its descendants are changed by it, so
// pass a tree built for the purpose.
func Commands(root *cobra.Command, h Header, rp RootPage) ([]Page, error) {
	date, err := parseDate(h.Date)
	if err != nil {
		return nil, err
	}
	var pages []Page
	var walk func(c *cobra.Command) error
	walk = func(c *cobra.Command) error {
		c.DisableAutoGenTag = true
		c.Short = escapeInline(c.Short)
		c.Long = PlainToMarkdown(c.Long)
		if c == root {
			c.Long = rp.Description + "\n\n# COMMANDS\n" + commandList(root, h.Section) + "\n" + rp.Sections
		}
		escapeUsages(c.LocalFlags())
		escapeUsages(c.PersistentFlags())
		var buf bytes.Buffer
		header := doc.GenManHeader{Section: h.Section, Date: &date, Source: h.Source, Manual: h.Manual}
		if err := doc.GenMan(c, &header, &buf); err != nil {
			return fmt.Errorf("man page of %s: %w", c.CommandPath(), err)
		}
		pages = append(pages, Page{Name: strings.ReplaceAll(c.CommandPath(), " ", "-") + "." + h.Section, Roff: buf.Bytes()})
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() && !sub.IsAdditionalHelpTopicCommand() {
				if err := walk(sub); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(root); err != nil {
		return nil, err
	}
	return pages, nil
}

// commandList is a definition list of every command below root that
// --help lists, with its short description and page.
func commandList(root *cobra.Command, section string) string {
	var b strings.Builder
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if !sub.IsAvailableCommand() || sub.IsAdditionalHelpTopicCommand() {
				continue
			}
			fmt.Fprintf(&b, "**%s**\n: %s; see **%s**(%s).\n\n", sub.CommandPath(), escapeInline(sub.Short),
				strings.ReplaceAll(sub.CommandPath(), " ", "-"), section)
			walk(sub)
		}
	}
	walk(root)
	return b.String()
}

// escapeUsages escapes the usage text of each flag in fs, once.
func escapeUsages(fs *pflag.FlagSet) {
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Annotations["manpage-escaped"] == nil {
			f.Usage = escapeInline(f.Usage)
			if f.Annotations == nil {
				f.Annotations = map[string][]string{}
			}
			f.Annotations["manpage-escaped"] = []string{"yes"}
		}
	})
}

// PlainToMarkdown turns a command's help text into Markdown that renders
// as written: lines that start with a space (option lists, aligned
// columns) become a preformatted block, everything else is flowing text
// with Markdown's special characters escaped (`code` spans are kept).
func PlainToMarkdown(text string) string {
	var out []string
	inBlock := false
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		indented := strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")
		switch {
		case indented && !inBlock:
			out = append(out, "", "```")
			inBlock = true
		case !indented && inBlock:
			out = append(out, "```", "")
			inBlock = false
		}
		if inBlock {
			out = append(out, line)
		} else {
			out = append(out, escapeLineStart(escapeInline(line)))
		}
	}
	if inBlock {
		out = append(out, "```")
	}
	return strings.Join(out, "\n")
}

// escapeInline backslash-escapes the characters Markdown would read as
// emphasis, links or HTML, outside `code` spans.
func escapeInline(s string) string {
	var b strings.Builder
	code := false
	for _, r := range s {
		switch {
		case r == '`':
			code = !code
		case !code && strings.ContainsRune(`\*_<>[]`, r):
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

var listOrHeading = regexp.MustCompile(`^(#|[-+*] |\d+\. |%)`)

// escapeLineStart keeps a line that starts like a heading, a list item
// or a title block as text.
func escapeLineStart(line string) string {
	if listOrHeading.MatchString(line) {
		return `\` + line
	}
	return line
}

var thDate = regexp.MustCompile(`(?m)^(\.TH "[^"]*" "[^"]*" )"[^"]*"`)

// SameButDate reports whether two renderings of a page differ at most
// in the date of their .TH line, so a page is dated when it last changed
// rather than when it was last generated.
func SameButDate(a, b []byte) bool {
	return bytes.Equal(thDate.ReplaceAll(a, []byte(`$1""`)), thDate.ReplaceAll(b, []byte(`$1""`)))
}

// Date is the date on a page's .TH line, or "" when it has none.
func Date(roff []byte) string {
	m := regexp.MustCompile(`(?m)^\.TH "[^"]*" "[^"]*" "([^"]*)"`).FindSubmatch(roff)
	if m == nil {
		return ""
	}
	return string(m[1])
}

// render runs go-md2man on md.
func render(md string) []byte { return md2man.Render([]byte(md)) }
