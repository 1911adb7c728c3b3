package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// exitCodesOf lists the values of the Ex* constants that sendmail/exit.go
// declares: the exit codes `mxout sendmail` can end with.
func exitCodesOf(t *testing.T, file string) []int {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var codes []int
	ast.Inspect(f, func(n ast.Node) bool {
		spec, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, name := range spec.Names {
			if !strings.HasPrefix(name.Name, "Ex") || i >= len(spec.Values) {
				continue
			}
			lit, ok := spec.Values[i].(*ast.BasicLit)
			if !ok || lit.Kind != token.INT {
				t.Fatalf("%s: %s is not an integer literal", file, name.Name)
			}
			n, _ := strconv.Atoi(lit.Value)
			codes = append(codes, n)
		}
		return true
	})
	slices.Sort(codes)
	if len(codes) < 2 {
		t.Fatalf("%s: found the exit codes %v, expected sysexits constants", file, codes)
	}
	return codes
}

// numbersIn lists the distinct numbers that re's first group matches in s.
func numbersIn(s string, re *regexp.Regexp) []int {
	var out []int
	for _, m := range re.FindAllStringSubmatch(s, -1) {
		n, _ := strconv.Atoi(m[1])
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// The exit codes that `mxout sendmail --help` (and so its man page) and
// docs/configuration.md list are those sendmail/exit.go defines, no more,
// no fewer: callers such as cron wrappers branch on them.
func TestSendmail_ExitCodesMatchTheDocs(t *testing.T) {
	t.Parallel()
	want := exitCodesOf(t, "../../sendmail/exit.go")

	out := sendmailHelp(t)
	_, help, ok := strings.Cut(out, "The exit status follows sysexits.h:")
	help, _, _ = strings.Cut(help, "Errors are one line")
	if !ok {
		t.Fatalf("sendmail --help has no exit status paragraph:\n%s", out)
	}
	if got := numbersIn(help, regexp.MustCompile(`(?:^|[\s:,])(\d+) `)); !slices.Equal(got, want) {
		t.Errorf("sendmail --help lists the exit codes %v, sendmail/exit.go defines %v", got, want)
	}

	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	_, para, ok := strings.Cut(string(doc), "Exit codes follow `sysexits.h`:")
	para, _, _ = strings.Cut(para, "\n\n")
	if !ok {
		t.Fatal("docs/configuration.md has no sendmail exit codes paragraph")
	}
	if got := numbersIn(para, regexp.MustCompile("`(\\d+)` ")); !slices.Equal(got, want) {
		t.Errorf("docs/configuration.md lists the exit codes %v, sendmail/exit.go defines %v", got, want)
	}
}
