package main

import (
	"bytes"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseCounters(t *testing.T) {
	t.Parallel()
	// What smtp-source -c and smtp-sink -c print (Postfix 3.7), read back
	// through the split function: updates end in CR, the last in LF.
	var src []int
	readCounters(strings.NewReader("1\r2\r3\r10\r\n"), parseSourceCounter, func(n int) { src = append(src, n) })
	if want := []int{1, 2, 3, 10}; !slices.Equal(src, want) {
		t.Errorf("smtp-source counts %v, want %v", src, want)
	}
	var sink []int
	readCounters(strings.NewReader("sess=0 quit=0 mesg=1\rsess=0 quit=0 mesg=2\rsess=1 quit=1 mesg=2\rsess=2 quit=2 mesg=5"),
		parseSinkCounter, func(n int) { sink = append(sink, n) })
	if want := []int{1, 2, 2, 5}; !slices.Equal(sink, want) {
		t.Errorf("smtp-sink counts %v, want %v", sink, want)
	}
	for _, bad := range []string{"", "x", "-1", "sess=1 quit=1", "mesg=", "mesg=-2", "mesg=3x"} {
		if n, ok := parseSinkCounter(bad); ok {
			t.Errorf("parseSinkCounter(%q) = %d, accepted", bad, n)
		}
	}
	for _, bad := range []string{"", "x", "-1", "1 2"} {
		if n, ok := parseSourceCounter(bad); ok {
			t.Errorf("parseSourceCounter(%q) = %d, accepted", bad, n)
		}
	}
}

func TestShare(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ total, n, want0, wantLast int }{
		{15000, 10, 1500, 1500}, {50, 10, 5, 5}, {10, 10, 1, 1}, {7, 3, 3, 2}, {2, 3, 1, 0},
	} {
		sum := 0
		for i := range tt.n {
			sum += share(tt.total, tt.n, i)
		}
		if sum != tt.total || share(tt.total, tt.n, 0) != tt.want0 || share(tt.total, tt.n, tt.n-1) != tt.wantLast {
			t.Errorf("share(%d, %d): first %d, last %d, sum %d; want %d, %d, %d", tt.total, tt.n,
				share(tt.total, tt.n, 0), share(tt.total, tt.n, tt.n-1), sum, tt.want0, tt.wantLast, tt.total)
		}
	}
}

func TestSMTPSourceArgs(t *testing.T) {
	t.Parallel()
	wl := workload{Name: "small", Messages: 15000, Size: 2 << 10, Recipients: 1, Clients: 50}
	rec := newRecorder("small1smtpsourcemxout", wl.Messages, 1)
	got := strings.Join(smtpSourceArgs("127.0.0.1:2525", wl, rec, "d3.bench.invalid", 3, 10), " ")
	want := "-c -d -s 5 -m 1500 -l 1888 -M client.bench.invalid -f bsmall1smtpsourcemxout@sender.bench.invalid -t r0@d3.bench.invalid 127.0.0.1:2525"
	if got != want {
		t.Errorf("args\n got %s\nwant %s", got, want)
	}
}

func TestParseGenerators(t *testing.T) {
	t.Parallel()
	tools := postfixTools{source: "/usr/sbin/smtp-source", sink: "/usr/sbin/smtp-sink"}
	gens, err := parseGenerators("go,smtp-source,go+smtp-sink,smtp-source+go", &world{}, tools)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range gens {
		names = append(names, g.Name())
	}
	if want := []string{"go", "smtp-source", "go+smtp-sink", "smtp-source+go"}; !slices.Equal(names, want) {
		t.Errorf("names %v, want %v", names, want)
	}
	for _, bad := range []string{"exim", "go+exim", "smtp-sink"} {
		if _, err := parseGenerators(bad, &world{}, tools); err == nil {
			t.Errorf("parseGenerators(%q) accepted", bad)
		}
	}
	small := workload{Name: "small", Messages: 10, Size: 2048, Recipients: 1, Clients: 5}
	multi := workload{Name: "multi", Messages: 10, Size: 2048, Recipients: 5, Clients: 5}
	drain := workload{Name: "drain", Messages: 10, Size: 2048, Recipients: 1, Clients: 5, Backlog: true}
	for _, tt := range []struct {
		gen  generator
		wl   workload
		runs bool
	}{
		{gens[0], drain, true}, {gens[0], multi, true},
		{gens[1], small, true}, {gens[1], multi, false}, {gens[1], drain, false},
		{gens[2], multi, true}, {gens[2], drain, false},
	} {
		if err := tt.gen.supports(tt.wl); (err == nil) != tt.runs {
			t.Errorf("%s supports %s: %v, want %v", tt.gen.Name(), tt.wl.Name, err, tt.runs)
		}
	}
	none, _ := parseGenerators("smtp-source", &world{}, postfixTools{})
	if err := none[0].supports(small); err == nil || !strings.Contains(err.Error(), "not installed") {
		t.Errorf("without Postfix's tools: %v, want not installed", err)
	}
}

func TestAlternate(t *testing.T) {
	t.Parallel()
	s := []string{"mxout", "postfix"}
	if got := alternate(s, 0); !slices.Equal(got, s) {
		t.Errorf("run 0: %v", got)
	}
	if got := alternate(s, 1); !slices.Equal(got, []string{"postfix", "mxout"}) || s[0] != "mxout" {
		t.Errorf("run 1: %v (input now %v)", got, s)
	}
}

// TestRecorder_AnonymousArrivals: arrivals the sinks cannot name count
// toward the run's end, and the last one is the end-to-end clock's end.
func TestRecorder_AnonymousArrivals(t *testing.T) {
	t.Parallel()
	rec := newRecorder("t", 3, 1)
	rec.arriveAnon(30)
	rec.arriveAnon(10) // read out of order
	select {
	case <-rec.done:
		t.Fatal("done after 2 of 3 arrivals")
	default:
	}
	rec.arriveAnon(20)
	if !waitDone(rec, time.Second) {
		t.Fatal("not done after 3 of 3 arrivals")
	}
	last, lat := arrivals(rec, false)
	if last != 30 || len(lat) != 0 {
		t.Errorf("last %d, %d latencies; want 30 and none (no message was named)", last, len(lat))
	}
}

// TestTable_UntimedGenerator: a generator that only counts has no latency
// figures (shown as "-", no ratio), and the summary prints both
// generators' ratios.
func TestTable_UntimedGenerator(t *testing.T) {
	t.Parallel()
	wl := workload{Name: "small", Title: "small transactional", Messages: 10, Size: 2048, Recipients: 1, Clients: 1}
	timed := outcome{Workload: wl, Generator: "go", Runs: map[string][]result{
		"mxout":   {{E2ERate: 3000, CPUPer1000: 0.3, AcceptP99: 10, GenCPUPer1000: 0.2}},
		"postfix": {{E2ERate: 600, CPUPer1000: 2.0, AcceptP99: 40, GenCPUPer1000: 0.4}},
	}}
	untimed := outcome{Workload: wl, Generator: "smtp-source", Setup: "load: smtp-source", Runs: map[string][]result{
		"mxout":   {{E2ERate: 2000, CPUPer1000: 0.4, NoAcceptLatency: true, NoE2ELatency: true}},
		"postfix": {{E2ERate: 500, CPUPer1000: 2.0, NoAcceptLatency: true, NoE2ELatency: true}},
	}}
	relays := []string{"mxout", "postfix"}
	timed.summarize(relays)
	untimed.summarize(relays)
	if got := timed.Ratio["accept latency p99 ms"]; got != 0.25 {
		t.Errorf("timed p99 ratio %v, want 0.25", got)
	}
	if _, ok := untimed.Ratio["accept latency p99 ms"]; ok {
		t.Error("untimed generator has an accept latency ratio")
	}
	if _, ok := timed.Ratio["generator CPU s per 1000 msgs"]; ok {
		t.Error("the generator's CPU has a ratio; it is not the relay's figure")
	}
	var buf bytes.Buffer
	untimed.writeTable(&buf, relays)
	if !strings.Contains(buf.String(), "load: smtp-source") || !strings.Contains(buf.String(), "smtp-source generator") {
		t.Errorf("table does not name the generator:\n%s", buf.String())
	}
	buf.Reset()
	writeSummary(&buf, []outcome{timed, untimed})
	out := buf.String()
	for _, want := range []string{"5.00×", "0.15×", "0.25×", "4.00×", "0.20×"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %s:\n%s", want, out)
		}
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if last := lines[len(lines)-1]; !strings.Contains(last, "smtp-source") || !strings.HasSuffix(strings.TrimSpace(last), "-") {
		t.Errorf("smtp-source's summary line %q should end with an unmeasured p99", last)
	}

	// A backlog has a drain rate where the others have an end-to-end rate.
	drain := outcome{Workload: workload{Name: "drain", Backlog: true}, Generator: "go", Runs: map[string][]result{
		"mxout":   {{E2ERate: 1800, CPUPer1000: 0.7, AcceptP99: 50}},
		"postfix": {{E2ERate: 600, CPUPer1000: 3.5, AcceptP99: 125}},
	}}
	drain.summarize(relays)
	buf.Reset()
	writeSummary(&buf, []outcome{drain})
	lines = strings.Split(strings.TrimSpace(buf.String()), "\n")
	if got := strings.Fields(lines[len(lines)-1]); !slices.Equal(got, []string{"drain", "go", "3.00×", "0.20×", "0.40×"}) {
		t.Errorf("drain summary line %q: want the drain rate, CPU and p99 ratios", got)
	}
}

// postfixToolsAndWorld finds smtp-source and smtp-sink, skipping the test
// without them, and starts a world of two domains.
func postfixToolsAndWorld(t *testing.T) (postfixTools, *world) {
	t.Helper()
	tools := findPostfixTools()
	if tools.source == "" || tools.sink == "" {
		t.Skip("smtp-source and smtp-sink are not installed (Debian's postfix package has them)")
	}
	w, err := newWorld(2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	return tools, w
}

// TestSMTPSource_IntoGoSink runs the real smtp-source into one of the
// world's go-smtp sinks: every message is counted, the first and last
// 250 timed, and the sink counts the anonymous arrivals.
func TestSMTPSource_IntoGoSink(t *testing.T) {
	t.Parallel()
	tools, w := postfixToolsAndWorld(t)
	wl := workload{Name: "t", Messages: 30, Size: 2048, Recipients: 1, Clients: 4}
	rec := newRecorder("t1", wl.Messages, 1)
	w.rec.Store(rec)
	lr, err := smtpSource{bin: tools.source}.drive(w.sinks[0].Addr(), w, wl, rec, w.Domains)
	if err != nil {
		t.Fatal(err)
	}
	if lr.Accepted != wl.Messages || lr.Refused != 0 {
		t.Fatalf("accepted %d, refused %d %v; want %d accepted", lr.Accepted, lr.Refused, lr.Errors, wl.Messages)
	}
	if lr.First <= lr.Start || lr.End < lr.First || !lr.Untimed || lr.CPU < 0 {
		t.Errorf("load result %+v: want Start < First <= End, untimed", lr)
	}
	if !waitDone(rec, 10*time.Second) {
		t.Fatalf("%d of %d arrivals counted", rec.count.Load(), rec.want.Load())
	}
	if c := w.sinks[0].Connections(); c != wl.Clients {
		t.Errorf("%d connections for %d sessions: smtp-source -d did not keep them", c, wl.Clients)
	}
}

// TestSMTPSink_CountsTheGoLoad sends the Go clients' mail to the real
// smtp-sink processes and sees every message counted there.
func TestSMTPSink_CountsTheGoLoad(t *testing.T) {
	t.Parallel()
	tools, w := postfixToolsAndWorld(t)
	wl := workload{Name: "t", Messages: 40, Size: 3000, Recipients: 1, Clients: 4}
	rec := newRecorder("t2", wl.Messages, 1)
	sinks := &smtpSinks{bin: tools.sink}
	dst, err := sinks.open(w, rec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sinks.close() }) // a second close does nothing
	if dst.Port == w.Port || !slices.Equal(dst.Hosts, w.Hosts) {
		t.Errorf("smtp-sink destinations %+v: want the world's hosts at another port than %d", dst, w.Port)
	}
	// Half the messages to each sink, as a relay would deliver them.
	for i, host := range dst.Hosts {
		part := workload{Name: "t", Messages: wl.Messages / 2, Size: wl.Size, Recipients: 1, Clients: 2}
		m := newMessages(part, rec, dst.Domains)
		m.rec = newRecorder("t2", part.Messages, 1) // the load's own bookkeeping
		lr := drive(net.JoinHostPort(host, strconv.Itoa(dst.Port)), w, m)
		if lr.Accepted != part.Messages {
			t.Fatalf("sink %d accepted %d of %d: %v", i, lr.Accepted, part.Messages, lr.Errors)
		}
	}
	if !waitDone(rec, 10*time.Second) {
		t.Fatalf("%d of %d arrivals counted from smtp-sink", rec.count.Load(), rec.want.Load())
	}
	if cpu := sinks.close(); cpu < 0 {
		t.Errorf("sink CPU %v", cpu)
	}
	if len(sinks.procs) != 0 {
		t.Error("close left processes")
	}
	if last, _ := arrivals(rec, false); last == 0 {
		t.Error("no arrival time")
	}
}
