package manpage

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func TestPlainToMarkdown(t *testing.T) {
	t.Parallel()
	in := "Reads <selector>._domainkey.D and *@example.com;\nrun `mxout config check`.\n# not a heading\nOptions:\n  -t    to *all*\n  -f ADDR\nAfter."
	want := "Reads \\<selector\\>.\\_domainkey.D and \\*@example.com;\nrun `mxout config check`.\n\\# not a heading\nOptions:\n\n```\n  -t    to *all*\n  -f ADDR\n```\n\nAfter."
	if got := PlainToMarkdown(in); got != want {
		t.Errorf("PlainToMarkdown:\n got %q\nwant %q", got, want)
	}
}

func TestFromMarkdown_KeyTablesBecomeLists(t *testing.T) {
	t.Parallel()
	doc := "# Reference\n\nIntro, see [delivery.md](delivery.md) and [the scheduler](delivery.md#scheduling).\n\n" +
		"## `a` — section\n\n| key | default | meaning |\n|---|---|---|\n| `a.b` | `5m` | how long; `x\\|y` or `p|q` |\n| `a.c` | — | no default |\n\nAfter.\n"
	roff, err := FromMarkdown([]byte(doc), Reference{Title: "T", Name: "t", Summary: "a test"}, Header{Section: "5", Date: "Jan 2026", Source: "mxout", Manual: "M"})
	if err != nil {
		t.Fatal(err)
	}
	s := string(roff)
	for _, want := range []string{
		`.TH "T" "5" "Jan 2026" "mxout" "M"`,
		".SH DESCRIPTION",
		"see delivery.md and the scheduler (delivery.md).",
		".TP\n\\fBa.b\\fR\nhow long; \\fBx|y\\fR or \\fBp|q\\fR\\&. Default: \\fB5m\\fR",
		".TP\n\\fBa.c\\fR\nno default.\n",
		"After.",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("page lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, ".TS") {
		t.Errorf("a key table was rendered as a table:\n%s", s)
	}
	if _, err := FromMarkdown([]byte("no title\n"), Reference{Name: "t"}, Header{}); err == nil {
		t.Error("a document without a title was accepted")
	}
}

func TestCommands_PagePerCommandAndRootListsAll(t *testing.T) {
	t.Parallel()
	root := &cobra.Command{Use: "tool", Short: "a tool"}
	parent := &cobra.Command{Use: "queue", Short: "the queue"}
	parent.AddCommand(&cobra.Command{Use: "list", Short: "list *all*", Long: "Lists.\n  -x  an option", Run: func(*cobra.Command, []string) {}})
	root.AddCommand(parent, &cobra.Command{Use: "hidden", Hidden: true, Run: func(*cobra.Command, []string) {}})
	pages, err := Commands(root, Header{Section: "8", Date: "Feb 2026", Source: "tool"}, RootPage{Description: "What it is.", Sections: "# FILES\n/etc/tool"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, p := range pages {
		got[p.Name] = string(p.Roff)
	}
	if len(got) != 3 || got["tool.8"] == "" || got["tool-queue.8"] == "" || got["tool-queue-list.8"] == "" {
		t.Fatalf("pages: %v", len(got))
	}
	for _, want := range []string{".SH COMMANDS", "\\fBtool queue list\\fP", "list *all*", ".SH FILES", `.TH "TOOL" "8" "Feb 2026" "tool"`} {
		if !strings.Contains(got["tool.8"], want) {
			t.Errorf("tool.8 lacks %q:\n%s", want, got["tool.8"])
		}
	}
	if !strings.Contains(got["tool-queue-list.8"], ".EX\n  -x  an option\n.EE") {
		t.Errorf("the option block is not kept as written:\n%s", got["tool-queue-list.8"])
	}
	if strings.Contains(got["tool.8"], "hidden") {
		t.Error("a hidden command is listed")
	}
	if _, err := Commands(root, Header{Date: "2026-02-01"}, RootPage{}); err == nil {
		t.Error("a date in the wrong form was accepted")
	}
}

func TestSameButDate(t *testing.T) {
	t.Parallel()
	a := []byte(".nh\n.TH \"MXOUT\" \"8\" \"Jan 2026\" \"mxout\" \"M\"\n.SH NAME\nx\n")
	b := []byte(".nh\n.TH \"MXOUT\" \"8\" \"Mar 2027\" \"mxout\" \"M\"\n.SH NAME\nx\n")
	c := []byte(".nh\n.TH \"MXOUT\" \"8\" \"Jan 2026\" \"mxout\" \"M\"\n.SH NAME\ny\n")
	if !SameButDate(a, b) || SameButDate(a, c) {
		t.Error("SameButDate compares more or less than the text")
	}
	if Date(b) != "Mar 2027" {
		t.Errorf("Date = %q", Date(b))
	}
}
