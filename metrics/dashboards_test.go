package metrics

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"go.yaml.in/yaml/v3"
)

const (
	dashboardFile  = "../docs/grafana/mxout.json"
	alertsFile     = "../docs/prometheus/alerts.yml"
	alertTestsFile = "../docs/prometheus/alerts_test.yml"
)

// metricNameRE finds the metric names of mxout and of the Go and process
// collectors in a PromQL expression.
var metricNameRE = regexp.MustCompile(`\b(?:mxout|go|process)_[a-zA-Z0-9_]+\b`)

// checkExprMetrics fails for every metric name in expr that the registry
// does not export, and returns the names it found.
func checkExprMetrics(t *testing.T, fams []*dto.MetricFamily, where, expr string) []string {
	t.Helper()
	names := metricNameRE.FindAllString(expr, -1)
	for _, n := range names {
		if !metricExists(fams, n) {
			t.Errorf("%s: %s is not a metric of the registry (in %q)", where, n, expr)
		}
	}
	return names
}

type grafanaPanel struct {
	ID      int    `json:"id"`
	Type    string `json:"type"`
	Title   string `json:"title"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
	GridPos *struct{ X, Y, W, H int } `json:"gridPos"`
}

func TestDashboard_GrafanaJSON(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title         string         `json:"title"`
		UID           string         `json:"uid"`
		SchemaVersion int            `json:"schemaVersion"`
		Panels        []grafanaPanel `json:"panels"`
		Templating    struct {
			List []struct {
				Name string `json:"name"`
				Type string `json:"type"`
			} `json:"list"`
		} `json:"templating"`
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if d.Title == "" || d.UID == "" || d.SchemaVersion == 0 || len(d.Panels) == 0 {
		t.Fatalf("%s: not a dashboard (title %q, uid %q, schemaVersion %d, %d panels)", dashboardFile, d.Title, d.UID, d.SchemaVersion, len(d.Panels))
	}
	var vars []string
	for _, v := range d.Templating.List {
		vars = append(vars, v.Name)
	}
	if !slices.Contains(vars, "datasource") || !slices.Contains(vars, "instance") {
		t.Errorf("template variables = %v, want datasource and instance", vars)
	}
	fams := mustGather(t, freshRegistry(t))
	ids := map[int]bool{}
	used := map[string]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d is used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Title == "" || p.GridPos == nil || (p.GridPos.W == 0 && p.Type != "row") {
			t.Errorf("panel %d (%q): needs a title and a gridPos", p.ID, p.Title)
		}
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %d (%q) has no query", p.ID, p.Title)
		}
		for _, tg := range p.Targets {
			names := checkExprMetrics(t, fams, "panel "+p.Title, tg.Expr)
			if len(names) == 0 {
				t.Errorf("panel %q: query %q uses no mxout, go or process metric", p.Title, tg.Expr)
			}
			for _, n := range names {
				used[n] = true
			}
		}
	}
	// What the dashboard must show (issue 7): queue depth by state, oldest
	// age, accept and delivery rates, deferral and bounce ratio, latency
	// percentiles, remote reply classes, auth failures.
	for _, n := range []string{
		"mxout_queue_messages", "mxout_queue_oldest_message_age_seconds", "mxout_messages_accepted_total",
		"mxout_deliveries_total", "mxout_delivery_latency_seconds_bucket", "mxout_remote_replies_total",
		"mxout_auth_failures_total", "mxout_ready",
		// issue 19: the relay itself.
		"mxout_tls_certificate_expiry_timestamp_seconds", "mxout_config_last_reload_successful",
		"mxout_dkim_signatures_total", "mxout_destinations_dead", "mxout_build_info",
	} {
		if !used[n] {
			t.Errorf("the dashboard does not show %s", n)
		}
	}
}

type alertRules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// readAlertRules decodes the alert rules file; a field this struct does
// not know is an error.
func readAlertRules(t *testing.T) alertRules {
	t.Helper()
	raw, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var f alertRules
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("%s: %v", alertsFile, err)
	}
	return f
}

func TestAlerts_RulesUseRegistryMetrics(t *testing.T) {
	t.Parallel()
	f := readAlertRules(t)
	fams := mustGather(t, freshRegistry(t))
	var alerts []string
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			if r.Alert == "" || strings.TrimSpace(r.Expr) == "" {
				t.Errorf("group %s: a rule without alert name or expr: %+v", g.Name, r)
			}
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: needs labels.severity and annotations summary and description", r.Alert)
			}
			checkExprMetrics(t, fams, r.Alert, r.Expr)
		}
	}
	// The alerts issue 7 asks for.
	for _, want := range []string{"MxoutQueueGrowing", "MxoutOldestMessageTooOld", "MxoutBounceRatioHigh", "MxoutNoDeliveries", "MxoutNotReady"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("%s has no alert %s", alertsFile, want)
		}
	}
}

func TestAlerts_Promtool(t *testing.T) {
	t.Parallel()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not installed (Debian package prometheus; .ci/run installs it): skipping `promtool check rules` and `promtool test rules`")
	}
	for _, args := range [][]string{{"check", "rules", alertsFile}, {"test", "rules", alertTestsFile}} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
