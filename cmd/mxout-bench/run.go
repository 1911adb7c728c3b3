package main

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// result is one run of one workload against one relay. Rates are per
// second, latencies in milliseconds, memory in MiB.
type result struct {
	Relay       string  `json:"relay"`
	LoadBefore  float64 `json:"load_avg_1m_before"`
	Accepted    int     `json:"accepted"`
	Refused     int     `json:"refused"`
	Arrived     int     `json:"arrived_recipients"`
	AcceptRate  float64 `json:"accept_msgs_per_s"`
	E2ERate     float64 `json:"end_to_end_msgs_per_s"`
	AcceptP50   float64 `json:"accept_p50_ms"`
	AcceptP99   float64 `json:"accept_p99_ms"`
	E2EP50      float64 `json:"end_to_end_p50_ms"`
	E2EP99      float64 `json:"end_to_end_p99_ms"`
	CPUPer1000  float64 `json:"cpu_s_per_1000_msgs"`
	PeakMiB     float64 `json:"peak_rss_mib"`
	PeakAnonMiB float64 `json:"peak_anon_mib"`
	QueuedMiB   float64 `json:"rss_queued_mib,omitempty"`
	QueuedAnon  float64 `json:"anon_queued_mib,omitempty"`
	DrainSecond float64 `json:"drain_s,omitempty"`
	// GenCPUPer1000 is the generator's CPU (this process, and the
	// smtp-source and smtp-sink processes) per 1000 accepted messages: what
	// it took from the cores the relay runs on.
	GenCPUPer1000 float64 `json:"generator_cpu_s_per_1000_msgs"`
	// NoAcceptLatency and NoE2ELatency: the generator cannot time single
	// messages (smtp-source, smtp-sink only count), so those figures
	// are not measured.
	NoAcceptLatency bool `json:"no_accept_latency,omitempty"`
	NoE2ELatency    bool `json:"no_end_to_end_latency,omitempty"`
	// Errors counts refusals and connection errors by their text.
	Errors map[string]int `json:"errors,omitempty"`
	// Incomplete says what did not arrive in time, if anything.
	Incomplete string `json:"incomplete,omitempty"`
}

// runOnce starts rl with an empty queue, runs wl through it with g's load
// and sinks, and stops it.
func runOnce(rl relay, wl workload, g generator, w *world, dir, tag string, opts options) (result, error) {
	rec := newRecorder(tag, wl.Messages, wl.Recipients)
	res := result{Relay: rl.Name(), LoadBefore: loadAvg()}
	dst, err := g.sinks.open(w, rec)
	sinksOpen := err == nil
	closeSinks := func() time.Duration {
		if !sinksOpen {
			return 0
		}
		sinksOpen = false
		return g.sinks.close()
	}
	defer closeSinks()
	if err != nil {
		return res, err
	}
	if wl.Backlog {
		w.Down()
		defer w.Up()
	}
	if err := rl.Start(dst, dir); err != nil {
		return res, err
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = rl.Stop()
		}
	}()
	before, err := rl.Usage()
	if err != nil {
		return res, err
	}
	selfBefore := selfCPU()
	sampler := sampleMemory(rl, opts.memoryEvery)
	var stopProfile func() error
	if p, ok := rl.(*mxoutRelay); ok && p.profile && opts.profileDir != "" {
		stopProfile = p.startProfile(opts.profileDir, wl.Name, opts.profileSeconds)
	}

	addr, err := g.load.target(rl)
	if err != nil {
		return res, err
	}
	lr, err := g.load.drive(addr, w, wl, rec, dst.Domains)
	if err != nil {
		return res, err
	}
	res.Accepted, res.Refused, res.Errors = lr.Accepted, lr.Refused, lr.Errors
	if lr.Accepted > 0 {
		res.AcceptRate = float64(lr.Accepted) / (lr.End - lr.Start).Seconds()
	}
	res.NoAcceptLatency = lr.Untimed
	slices.Sort(lr.Latencies)
	res.AcceptP50 = ms(percentile(lr.Latencies, 50))
	res.AcceptP99 = ms(percentile(lr.Latencies, 99))

	from := int64(lr.First) // the start of the end-to-end clock
	if wl.Backlog {
		// A relay that cannot be flushed gets no drain figures; the
		// other workloads still count.
		if from, err = drainBacklog(rl, w, lr.Accepted, opts, &res); err != nil {
			res.Incomplete = err.Error()
			rec.finish()
		}
	}
	if !waitDone(rec, opts.timeout) {
		res.Incomplete = fmt.Sprintf("%d of %d recipients arrived within %v", rec.count.Load(), rec.want.Load(), opts.timeout)
	}
	after, err := rl.Usage()
	if err != nil {
		return res, err
	}
	genCPU := selfCPU() - selfBefore + lr.CPU
	peak, peakAnon := sampler.stop()
	res.PeakMiB = mib(max(peak, after.Peak))
	res.PeakAnonMiB = mib(max(peakAnon, after.Anon))
	if stopProfile != nil {
		if err := stopProfile(); err != nil {
			fmt.Fprintln(os.Stderr, "mxout-bench: profile:", err)
		}
	}
	stopped = true
	if err := rl.Stop(); err != nil {
		return res, err
	}
	genCPU += closeSinks()

	res.Arrived = int(rec.count.Load())
	last, e2e := arrivals(rec, wl.Backlog)
	if span := time.Duration(last - from); res.Arrived > 0 && span > 0 && from > 0 {
		res.E2ERate = float64(res.Arrived) / float64(wl.Recipients) / span.Seconds()
		if wl.Backlog {
			res.DrainSecond = span.Seconds()
		}
	}
	res.NoE2ELatency = !wl.Backlog && len(e2e) == 0
	res.E2EP50, res.E2EP99 = ms(percentile(e2e, 50)), ms(percentile(e2e, 99))
	if lr.Accepted > 0 {
		res.CPUPer1000 = (after.CPU - before.CPU).Seconds() / float64(lr.Accepted) * 1000
		res.GenCPUPer1000 = genCPU.Seconds() / float64(lr.Accepted) * 1000
	}
	return res, nil
}

// drainBacklog waits until every accepted message is deferred, records
// the relay's memory with the backlog queued, brings the sinks up and
// flushes the queue. It returns when the flush was asked for.
func drainBacklog(rl relay, w *world, accepted int, opts options, res *result) (int64, error) {
	timeout := opts.timeout
	deadline := time.Now().Add(timeout)
	for {
		n, err := rl.Deferred()
		if err != nil {
			return 0, fmt.Errorf("count deferred: %w", err)
		}
		if n >= accepted {
			break
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("only %d of %d messages deferred after %v", n, accepted, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(opts.backlogIdle)
	u, err := rl.Usage()
	if err != nil {
		return 0, err
	}
	res.QueuedMiB, res.QueuedAnon = mib(u.Mem), mib(u.Anon)
	if err := w.Up(); err != nil {
		return 0, err
	}
	from := w.since()
	return from, rl.Flush()
}

func waitDone(rec *recorder, timeout time.Duration) bool {
	select {
	case <-rec.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// firstAccepted is the time of the first 250.
func firstAccepted(rec *recorder) int64 {
	first := int64(0)
	for i := range rec.accepted {
		if t := rec.accepted[i].Load(); t > 0 && (first == 0 || t < first) {
			first = t
		}
	}
	return first
}

// arrivals returns the last arrival and, unless the run was a backlog
// (whose messages waited for the sinks on purpose), each recipient's
// end-to-end latency (from its message's 250 to its arrival), sorted, for
// the messages whose 250 and arrival were both timed. An arrival can beat
// the client's reading of the 250 by a hair; that counts as 0.
func arrivals(rec *recorder, backlog bool) (int64, []time.Duration) {
	last := rec.anonLast.Load()
	var lat []time.Duration
	for i := range rec.arrivals {
		t := rec.arrivals[i].Load()
		if t == 0 {
			continue
		}
		last = max(last, t)
		if acc := rec.accepted[i/rec.rcpts].Load(); !backlog && acc > 0 {
			lat = append(lat, time.Duration(max(t-acc, 0)))
		}
	}
	slices.Sort(lat)
	return last, lat
}

// memorySampler polls a relay's memory, for relays (several processes)
// without a kernel-kept high-water mark, and for the anonymous part,
// which has none.
type memorySampler struct {
	stopc      chan struct{}
	wg         sync.WaitGroup
	peak, anon int64
}

func sampleMemory(rl relay, every time.Duration) *memorySampler {
	s := &memorySampler{stopc: make(chan struct{})}
	if every <= 0 {
		return s
	}
	s.wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if u, err := rl.Usage(); err == nil {
				s.peak, s.anon = max(s.peak, u.Mem), max(s.anon, u.Anon)
			}
			select {
			case <-s.stopc:
				return
			case <-t.C:
			}
		}
	})
	return s
}

// stop ends the polling and returns the peaks of Mem and Anon.
func (s *memorySampler) stop() (int64, int64) {
	close(s.stopc)
	s.wg.Wait()
	return s.peak, s.anon
}

// loadAvg is the 1-minute load average.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return 0
	}
	f, _ := strconv.ParseFloat(fields[0], 64)
	return f
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func mib(n int64) float64 { return float64(n) / (1 << 20) }
