package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	t.Parallel()
	// 52 fields as in Linux 6.x; pid 42, ppid 7, utime 150, stime 50, cutime 30, cstime 20 ticks.
	tail := " S 7 42 42 0 -1 4194560 100 0 0 0 150 50 30 20 20 0 4 0 100 1000000 200 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0"
	tests := []struct {
		name    string
		stat    string
		want    procStat
		wantErr bool
	}{
		{name: "plain", stat: "42 (master)" + tail, want: procStat{PPID: 7, CPU: 2 * time.Second, ChildCPU: 500 * time.Millisecond}},
		{name: "name with spaces and parentheses", stat: "42 (a (b) c)" + tail, want: procStat{PPID: 7, CPU: 2 * time.Second, ChildCPU: 500 * time.Millisecond}},
		{name: "no name", stat: "42 master S 7", wantErr: true},
		{name: "truncated", stat: "42 (master) S 7 42 42", wantErr: true},
		{name: "not a number", stat: "42 (master) S x" + tail[4:], wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStat([]byte(tt.stat))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("1 (init) S 0 1 1 0 -1 4194560 100 0 0 0 150 50 30 20 20 0 1 0 1 1 1 1"))
	f.Add([]byte("1 ((x)) S"))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parseStat(b)
		if err == nil && (st.PPID < 0 || st.CPU < 0 || st.ChildCPU < 0) {
			t.Errorf("parseStat(%q) = %+v: negative", b, st)
		}
	})
}

func TestUsageOfThisProcess(t *testing.T) {
	t.Parallel()
	u, err := processUsage(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if u.Mem <= 0 || u.Peak < u.Mem {
		t.Errorf("processUsage = %+v: want 0 < Mem <= Peak", u)
	}
	tu, err := treeUsage(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if tu.Mem <= 0 {
		t.Errorf("treeUsage = %+v: want a proportional set size", tu)
	}
}

func TestPercentileAndMedian(t *testing.T) {
	t.Parallel()
	ds := make([]time.Duration, 100)
	for i := range ds {
		ds[i] = time.Duration(i+1) * time.Millisecond
	}
	for _, tt := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {0.1, time.Millisecond}} {
		if got := percentile(ds, tt.p); got != tt.want {
			t.Errorf("percentile(%v) = %v, want %v", tt.p, got, tt.want)
		}
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("percentile of nothing = %v", got)
	}
	for _, tt := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestParseAddresses(t *testing.T) {
	t.Parallel()
	r := newRecorder("small1mxout", 10, 2)
	if seq, ok := r.parseSender(r.sender(7)); !ok || seq != 7 {
		t.Errorf("parseSender(sender(7)) = %d, %v", seq, ok)
	}
	for _, bad := range []string{"", "b.7@sender.bench.invalid", "bsmall1mxout.10@sender.bench.invalid", "bother.1@sender.bench.invalid", "bsmall1mxout.1@elsewhere.invalid"} {
		if _, ok := r.parseSender(bad); ok {
			t.Errorf("parseSender(%q) accepted", bad)
		}
	}
	if j, ok := parseRecipient(recipient(3, "d1.bench.invalid")); !ok || j != 3 {
		t.Errorf("parseRecipient = %d, %v", j, ok)
	}
	if _, ok := parseRecipient("postmaster@d1.bench.invalid"); ok {
		t.Error("parseRecipient accepted postmaster")
	}
}

// TestDrive_IntoASink sends a small multi-recipient workload straight into
// one of the world's sinks (a go-smtp server, which pipelines) and checks
// that every message is accepted and every recipient recorded.
func TestDrive_IntoASink(t *testing.T) {
	t.Parallel()
	w, err := newWorld(3)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	wl := workload{Name: "t", Messages: 40, Size: 3000, Recipients: 2, Clients: 4}
	rec := newRecorder("t1", wl.Messages, wl.Recipients)
	w.rec.Store(rec)
	lr := drive(w.sinks[0].Addr(), w, newMessages(wl, rec, w.Domains))
	if lr.Accepted != wl.Messages || lr.Refused != 0 {
		t.Fatalf("accepted %d, refused %d (%v); want %d accepted", lr.Accepted, lr.Refused, lr.Errors, wl.Messages)
	}
	if !waitDone(rec, 10*time.Second) {
		t.Fatalf("%d of %d arrivals recorded", rec.count.Load(), rec.want.Load())
	}
	last, lat := arrivals(rec, false)
	if last == 0 || len(lat) != wl.Messages*wl.Recipients {
		t.Errorf("last arrival %d, %d latencies; want %d", last, len(lat), wl.Messages*wl.Recipients)
	}
	if c := w.sinks[0].Connections(); c != wl.Clients {
		t.Errorf("%d connections for %d clients: connections were not reused", c, wl.Clients)
	}
}

func TestTable_RatiosAndFigures(t *testing.T) {
	t.Parallel()
	o := outcome{Workload: workload{Name: "drain", Title: "backlog drain", Messages: 10, Size: 2048, Recipients: 1, Clients: 1, Backlog: true}, Runs: map[string][]result{
		"mxout":   {{AcceptRate: 300, DrainSecond: 2}, {AcceptRate: 100, DrainSecond: 4}, {AcceptRate: 200, DrainSecond: 3}},
		"postfix": {{AcceptRate: 50, DrainSecond: 6}},
	}}
	o.summarize([]string{"mxout", "postfix"})
	if got := o.Ratio["accepted msgs/s"]; got != 4 {
		t.Errorf("accept ratio = %v, want 4 (median 200 / 50)", got)
	}
	if got := o.Ratio["drain time s"]; got != 0.5 {
		t.Errorf("drain ratio = %v, want 0.5", got)
	}
	var buf bytes.Buffer
	o.writeTable(&buf, []string{"mxout", "postfix"})
	out := buf.String()
	for _, want := range []string{"backlog drain: 10 msgs × 2 KiB", "drain time s", "4.00×", "RSS with backlog queued MiB"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "end-to-end latency") {
		t.Errorf("backlog table shows end-to-end latency:\n%s", out)
	}
}

// TestTable_IncompleteRunsHaveNoDrainFigures: a relay whose backlog was
// never delivered shows "-" for the drain, not a ratio of zero.
func TestTable_IncompleteRunsHaveNoDrainFigures(t *testing.T) {
	t.Parallel()
	o := outcome{Workload: workload{Name: "drain", Title: "backlog drain", Messages: 10, Size: 2048, Recipients: 1, Clients: 1, Backlog: true}, Runs: map[string][]result{
		"mxout":   {{AcceptRate: 300, Incomplete: "flush: refused"}},
		"postfix": {{AcceptRate: 100, DrainSecond: 6}},
	}}
	o.summarize([]string{"mxout", "postfix"})
	if _, ok := o.Ratio["drain time s"]; ok {
		t.Errorf("drain ratio %v for a relay that never drained", o.Ratio["drain time s"])
	}
	if got := o.Ratio["accepted msgs/s"]; got != 3 {
		t.Errorf("accept ratio = %v, want 3", got)
	}
	var buf bytes.Buffer
	o.writeTable(&buf, []string{"mxout", "postfix"})
	if !strings.Contains(buf.String(), "flush: refused") {
		t.Errorf("table does not say why:\n%s", buf.String())
	}
}
