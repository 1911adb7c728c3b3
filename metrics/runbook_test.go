package metrics

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
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
	raw, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var f alertRules
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
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
			for _, part := range []string{"**What it means.**", "**What to check.**", "**What to do.**"} {
				if !strings.Contains(body, part) {
					t.Errorf("%s: the runbook section lacks %s", r.Alert, part)
				}
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
