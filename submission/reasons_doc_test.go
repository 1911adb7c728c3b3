package submission

import (
	"os"
	"strings"
	"testing"
)

// TestReasons_DocumentedInMetricsDoc keeps the reason label values of
// mxout_messages_rejected_total listed in docs/metrics.md.
func TestReasons_DocumentedInMetricsDoc(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	var row string
	for _, line := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(line, "| `reason` | `mxout_messages_rejected_total` |") {
			row = line
		}
	}
	if row == "" {
		t.Fatal("docs/metrics.md has no row for the reason label")
	}
	for _, r := range allReasons() {
		if !strings.Contains(row, "`"+r+"`") {
			t.Errorf("docs/metrics.md does not list the reject reason %q", r)
		}
	}
}
