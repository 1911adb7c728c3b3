package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// figure is one row of the table: a name, how to read it from a result,
// and which way is better.
type figure struct {
	Label  string
	Higher bool // higher is better
	// Backlog: shown only for backlog runs; Steady: only for the others.
	Backlog, Steady bool
	// Arrivals: the figure needs the deliveries, so runs whose deliveries
	// did not all arrive are left out of its median.
	Arrivals bool
	// Info: a figure about the measurement, not the relay; no ratio.
	Info bool
	// Measured, where set, says whether a run has the figure at all
	// (smtp-source and smtp-sink cannot time single messages).
	Measured func(result) bool
	Get      func(result) float64
}

func acceptTimed(r result) bool { return !r.NoAcceptLatency }

func e2eTimed(r result) bool { return !r.NoE2ELatency }

func figures() []figure {
	return []figure{
		{Label: "accepted msgs/s", Higher: true, Get: func(r result) float64 { return r.AcceptRate }},
		{Label: "end-to-end msgs/s", Higher: true, Steady: true, Arrivals: true, Get: func(r result) float64 { return r.E2ERate }},
		{Label: "drain msgs/s", Higher: true, Backlog: true, Arrivals: true, Get: func(r result) float64 { return r.E2ERate }},
		{Label: "drain time s", Backlog: true, Arrivals: true, Get: func(r result) float64 { return r.DrainSecond }},
		{Label: "accept latency p50 ms", Measured: acceptTimed, Get: func(r result) float64 { return r.AcceptP50 }},
		{Label: "accept latency p99 ms", Measured: acceptTimed, Get: func(r result) float64 { return r.AcceptP99 }},
		{Label: "end-to-end latency p50 ms", Steady: true, Arrivals: true, Measured: e2eTimed, Get: func(r result) float64 { return r.E2EP50 }},
		{Label: "end-to-end latency p99 ms", Steady: true, Arrivals: true, Measured: e2eTimed, Get: func(r result) float64 { return r.E2EP99 }},
		{Label: "CPU s per 1000 msgs", Get: func(r result) float64 { return r.CPUPer1000 }},
		{Label: "generator CPU s per 1000 msgs", Info: true, Get: func(r result) float64 { return r.GenCPUPer1000 }},
		{Label: "peak RSS MiB", Get: func(r result) float64 { return r.PeakMiB }},
		{Label: "peak anonymous MiB", Get: func(r result) float64 { return r.PeakAnonMiB }},
		{Label: "RSS with backlog queued MiB", Backlog: true, Get: func(r result) float64 { return r.QueuedMiB }},
		{Label: "anonymous with backlog queued MiB", Backlog: true, Get: func(r result) float64 { return r.QueuedAnon }},
	}
}

// outcome is every run of one workload with one generator, by relay.
type outcome struct {
	Workload workload `json:"workload"`
	// Generator names the load and sinks ("go", "smtp-source", or
	// LOAD+SINK); Setup describes them.
	Generator string              `json:"generator"`
	Setup     string              `json:"setup"`
	Runs      map[string][]result `json:"runs"`
	// Median is each figure's median over the runs, by relay and label.
	Median map[string]map[string]float64 `json:"median"`
	// Ratio is mxout's median over Postfix's, by label.
	Ratio map[string]float64 `json:"ratio_mxout_over_postfix,omitempty"`
}

// summarize fills Median and Ratio from Runs.
func (o *outcome) summarize(relays []string) {
	o.Median = map[string]map[string]float64{}
	for _, name := range relays {
		runs := o.Runs[name]
		if len(runs) == 0 {
			continue
		}
		m := map[string]float64{}
		for _, f := range o.shown() {
			var vals []float64
			for _, r := range runs {
				if (!f.Arrivals || r.Incomplete == "") && (f.Measured == nil || f.Measured(r)) {
					vals = append(vals, f.Get(r))
				}
			}
			if len(vals) > 0 {
				m[f.Label] = median(vals)
			}
		}
		o.Median[name] = m
	}
	mx, pf := o.Median["mxout"], o.Median["postfix"]
	if mx == nil || pf == nil {
		return
	}
	o.Ratio = map[string]float64{}
	info := map[string]bool{}
	for _, f := range figures() {
		info[f.Label] = f.Info
	}
	for label, v := range mx {
		if p, ok := pf[label]; ok && p != 0 && !info[label] {
			o.Ratio[label] = v / p
		}
	}
}

// shown are the figures that apply to the workload.
func (o *outcome) shown() []figure {
	var out []figure
	for _, f := range figures() {
		if (f.Backlog && !o.Workload.Backlog) || (f.Steady && o.Workload.Backlog) {
			continue
		}
		out = append(out, f)
	}
	return out
}

// median of vals; vals is reordered.
func median(vals []float64) float64 {
	if len(vals) == 0 {
		return 0
	}
	slices.Sort(vals)
	n := len(vals)
	if n%2 == 1 {
		return vals[n/2]
	}
	return (vals[n/2-1] + vals[n/2]) / 2
}

// writeTable prints one workload's medians side by side.
func (o *outcome) writeTable(out io.Writer, relays []string) {
	runs := 0
	var loads []string
	for _, name := range relays {
		runs = max(runs, len(o.Runs[name]))
		l := name
		for _, r := range o.Runs[name] {
			l += fmt.Sprintf(" %.1f", r.LoadBefore)
		}
		loads = append(loads, l)
	}
	fmt.Fprintf(out, "\n%s, %s generator — median of %d run(s); 1-min load average before each run: %s\n",
		o.Workload, o.Generator, runs, strings.Join(loads, "; "))
	if o.Setup != "" {
		fmt.Fprintf(out, "%s\n", o.Setup)
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	header := "figure\t"
	for _, name := range relays {
		header += name + "\t"
	}
	if o.Ratio != nil {
		header += "mxout/postfix\tbetter\t"
	}
	fmt.Fprintln(tw, header)
	for _, f := range o.shown() {
		row := f.Label + "\t"
		for _, name := range relays {
			if v, ok := o.Median[name][f.Label]; ok {
				row += format(v) + "\t"
			} else {
				row += "-\t"
			}
		}
		if o.Ratio != nil {
			ratio := "-"
			if v, ok := o.Ratio[f.Label]; ok {
				ratio = fmt.Sprintf("%.2f×", v)
			}
			better := "lower"
			switch {
			case f.Info:
				better = "-"
			case f.Higher:
				better = "higher"
			}
			row += ratio + "\t" + better + "\t"
		}
		fmt.Fprintln(tw, row)
	}
	tw.Flush()
	for _, name := range relays {
		for i, r := range o.Runs[name] {
			if r.Refused > 0 || r.Incomplete != "" {
				fmt.Fprintf(out, "  %s run %d: %d refused %v %s\n", name, i+1, r.Refused, r.Errors, r.Incomplete)
			}
		}
	}
}

func format(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// summaryFigures are the ratios the summary shows for every workload and
// generator: the first of labels that the workload has.
var summaryFigures = []struct {
	labels []string
	head   string
}{
	{[]string{"end-to-end msgs/s", "drain msgs/s"}, "e2e msgs/s"},
	{[]string{"CPU s per 1000 msgs"}, "CPU per msg"},
	{[]string{"accept latency p99 ms"}, "accept p99"},
}

// writeSummary prints mxout ÷ Postfix for each workload and generator on
// one line each: the comparison made with two independent instruments.
func writeSummary(out io.Writer, ocs []outcome) {
	any := false
	for _, o := range ocs {
		any = any || o.Ratio != nil
	}
	if !any {
		return
	}
	fmt.Fprintf(out, "\nmxout ÷ Postfix, by generator (medians; \"-\": not measured by that generator)\n")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := "workload\tgenerator\t"
	for _, f := range summaryFigures {
		head += f.head + "\t"
	}
	fmt.Fprintln(tw, head)
	for _, o := range ocs {
		if o.Ratio == nil {
			continue
		}
		row := o.Workload.Name + "\t" + o.Generator + "\t"
		for _, f := range summaryFigures {
			cell := "-"
			for _, label := range f.labels {
				if v, ok := o.Ratio[label]; ok {
					cell = fmt.Sprintf("%.2f×", v)
					break
				}
			}
			row += cell + "\t"
		}
		fmt.Fprintln(tw, row)
	}
	tw.Flush()
}
