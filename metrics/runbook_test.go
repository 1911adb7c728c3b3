package metrics

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const (
	runbookFile = "../docs/runbook.md"
	// runbookURL is where every alert's runbook_url points, followed by
	// the alert's name in lower case (the heading's anchor).
	runbookURL = "https://github.com/mxout/mxout/blob/main/docs/runbook.md#"
)

// Every alert links its section of docs/runbook.md, and the section says
// what the alert means, what to check and what to do; every section is
// an alert's. An alert added without its runbook fails here.
func TestAlerts_EveryAlertHasARunbook(t *testing.T) {
	t.Parallel()
	f := readAlertRules(t)
	doc, err := os.ReadFile(runbookFile)
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]string{}
	parts := regexp.MustCompile(`(?m)^## `).Split(string(doc), -1)
	for _, p := range parts[1:] {
		name, body, _ := strings.Cut(p, "\n")
		sections[strings.TrimSpace(name)] = body
	}
	var alerts []string
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			if want := runbookURL + strings.ToLower(r.Alert); r.Annotations["runbook_url"] != want {
				t.Errorf("%s: runbook_url %q, want %q", r.Alert, r.Annotations["runbook_url"], want)
			}
			body, ok := sections[r.Alert]
			if !ok {
				t.Errorf("%s has no section \"## %s\" in %s", r.Alert, r.Alert, runbookFile)
				continue
			}
			for _, problem := range runbookSectionProblems(body) {
				t.Errorf("%s: the runbook section %s", r.Alert, problem)
			}
		}
	}
	for name := range sections {
		if !slices.Contains(alerts, name) {
			t.Errorf("%s has a section %q for no alert of %s", runbookFile, name, alertsFile)
		}
	}
	// The alerts issue 19 asks for.
	for _, want := range []string{"MxoutCertificateExpiresSoon", "MxoutConfigReloadFailed"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("%s has no alert %s", alertsFile, want)
		}
	}
}

// runbookParts are the parts of a runbook section, in order.
var runbookParts = []string{"**What it means.**", "**What to check.**", "**What to do.**"}

// runbookSectionProblems says what a section's body lacks: a part, the
// parts' order, or words in a part (a heading alone tells the operator
// woken at night nothing).
func runbookSectionProblems(body string) []string {
	const minWords = 10
	var problems []string
	for i, part := range runbookParts {
		at := strings.Index(body, part)
		if at < 0 {
			problems = append(problems, "lacks "+part)
			continue
		}
		text := body[at+len(part):]
		if i+1 < len(runbookParts) {
			if next := strings.Index(text, runbookParts[i+1]); next >= 0 {
				text = text[:next]
			} else if strings.Contains(body, runbookParts[i+1]) {
				problems = append(problems, "has "+runbookParts[i+1]+" before "+part)
			}
		}
		if n := len(strings.Fields(text)); n < minWords {
			problems = append(problems, fmt.Sprintf("says next to nothing under %s (%d words, want %d at least)", part, n, minWords))
		}
	}
	return problems
}

func TestRunbookSectionProblems(t *testing.T) {
	t.Parallel()
	words := " one two three four five six seven eight nine ten\n\n"
	tests := []struct {
		name string
		body string
		want int
	}{
		{"complete", runbookParts[0] + words + runbookParts[1] + words + runbookParts[2] + words, 0},
		{"a part missing", runbookParts[0] + words + runbookParts[2] + words, 1},
		{"an empty part", runbookParts[0] + words + runbookParts[1] + "\n\n" + runbookParts[2] + words, 1},
		{"an empty last part", runbookParts[0] + words + runbookParts[1] + words + runbookParts[2] + "\n", 1},
		{"out of order", runbookParts[1] + words + runbookParts[0] + words + runbookParts[2] + words, 1},
	}
	for _, tt := range tests {
		if got := runbookSectionProblems(tt.body); len(got) != tt.want {
			t.Errorf("%s: %q, want %d problems", tt.name, got, tt.want)
		}
	}
}
