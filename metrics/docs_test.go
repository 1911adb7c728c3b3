package metrics

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

var update = flag.Bool("update", false, "rewrite the generated table of docs/metrics.md from the registry")

const (
	metricsDoc = "../docs/metrics.md"
	tableBegin = "<!-- BEGIN generated: go test ./metrics -run TestDocs_MetricsTable -update -->"
	tableEnd   = "<!-- END generated -->"
)

// freshRegistry holds everything cmd/mxout registers: the instruments,
// the queue collector and mxout_ready.
func freshRegistry(t *testing.T) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := NewWithOptions(reg, Options{Domains: []string{"example.com"}})
	RegisterQueue(reg, func() QueueSnapshot { return QueueSnapshot{} }, nil)
	RegisterReady(reg, func() error { return nil })
	RegisterBuildInfo(reg, Build{Version: "v1.2.3", Commit: "abc1234"})
	RegisterCertificates(reg, func() []Certificate { return []Certificate{{Listener: "127.0.0.1:587", NotAfter: time.Now()}} })
	RegisterDestinations(reg, func() int { return 0 })
	RegisterMaxLifetime(reg, 120*time.Hour)
	NewApps(reg, []string{"https://app.example/hook"})
	RegisterWebhooks(reg, func() []WebhookStatus { return []WebhookStatus{{Endpoint: "https://app.example/hook"}} }, nil)
	// Vectors whose label values other packages own (submission's reasons,
	// the resolver's types and results) have no series until used.
	m.MessagesRejected.WithLabelValues("example")
	m.ObserveLookup("MX", "ok", time.Millisecond)
	return reg
}

// family is one metric as the reference table shows it.
type family struct {
	name, typ, help string
	labels          []string
}

// mxoutFamilies gathers reg's mxout_ metrics, and fails when a described
// mxout_ metric has no series to gather (the table would miss it).
func mxoutFamilies(t *testing.T, reg *prometheus.Registry) map[string]family {
	t.Helper()
	out := map[string]family{}
	for _, mf := range mustGather(t, reg) {
		if !strings.HasPrefix(mf.GetName(), namespace+"_") {
			continue
		}
		f := family{name: mf.GetName(), typ: strings.ToLower(mf.GetType().String()), help: mf.GetHelp()}
		if ms := mf.GetMetric(); len(ms) > 0 {
			for _, lp := range ms[0].GetLabel() {
				f.labels = append(f.labels, lp.GetName())
			}
		}
		out[f.name] = f
	}
	for _, name := range describedNames(t, reg) {
		if _, ok := out[name]; !ok && strings.HasPrefix(name, namespace+"_") {
			t.Errorf("%s is registered but has no series in a fresh registry: pre-create its label values in New, or give it one series in freshRegistry", name)
		}
	}
	return out
}

var fqNameRE = regexp.MustCompile(`fqName: "([^"]+)"`)

// describedNames lists the name of every metric reg describes.
func describedNames(t *testing.T, reg *prometheus.Registry) []string {
	t.Helper()
	ch := make(chan *prometheus.Desc)
	go func() { reg.Describe(ch); close(ch) }()
	var names []string
	for d := range ch {
		m := fqNameRE.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("cannot read the name of %s", d)
		}
		names = append(names, m[1])
	}
	return names
}

// renderTable is the reference table of docs/metrics.md.
func renderTable(fams map[string]family) string {
	names := make([]string, 0, len(fams))
	for n := range fams {
		names = append(names, n)
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteString("| metric | type | labels | meaning |\n|---|---|---|---|\n")
	for _, n := range names {
		f := fams[n]
		labels := "—"
		if len(f.labels) > 0 {
			labels = "`" + strings.Join(f.labels, "`, `") + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", f.name, f.typ, labels, strings.ReplaceAll(f.help, "|", `\|`))
	}
	return b.String()
}

func TestDocs_MetricsTable(t *testing.T) {
	t.Parallel()
	want := renderTable(mxoutFamilies(t, freshRegistry(t)))
	doc, err := os.ReadFile(metricsDoc)
	if err != nil {
		t.Fatal(err)
	}
	before, rest, ok1 := strings.Cut(string(doc), tableBegin+"\n")
	got, after, ok2 := strings.Cut(rest, tableEnd)
	if !ok1 || !ok2 {
		t.Fatalf("%s: the markers %q and %q are missing", metricsDoc, tableBegin, tableEnd)
	}
	if got == want {
		return
	}
	if *update {
		if err := os.WriteFile(metricsDoc, []byte(before+tableBegin+"\n"+want+tableEnd+after), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	gotLines, wantLines := strings.Split(got, "\n"), strings.Split(want, "\n")
	for _, l := range wantLines {
		if !slices.Contains(gotLines, l) {
			t.Errorf("missing from %s: %s", metricsDoc, l)
		}
	}
	for _, l := range gotLines {
		if !slices.Contains(wantLines, l) {
			t.Errorf("in %s but not in the registry: %s", metricsDoc, l)
		}
	}
	t.Errorf("%s is out of step with the registry; run: go test ./metrics -run TestDocs_MetricsTable -update", metricsDoc)
}

func TestRegistry_GoAndProcessCollectors(t *testing.T) {
	t.Parallel()
	have := map[string]bool{}
	for _, mf := range mustGather(t, freshRegistry(t)) {
		have[mf.GetName()] = true
	}
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_resident_memory_bytes", "process_open_fds"} {
		if !have[name] {
			t.Errorf("%s is not exported", name)
		}
	}
}

// metricExists reports whether name, as written in PromQL, is a series
// of reg: a family, or a histogram's _bucket, _sum or _count.
func metricExists(fams []*dto.MetricFamily, name string) bool {
	for _, mf := range fams {
		if mf.GetName() == name {
			return true
		}
		if mf.GetType() == dto.MetricType_HISTOGRAM {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if mf.GetName()+suffix == name {
					return true
				}
			}
		}
	}
	return false
}
