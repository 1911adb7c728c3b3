package main

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// workload is one benchmark scenario.
type workload struct {
	Name       string `json:"name"`
	Title      string `json:"title"`
	Messages   int    `json:"messages"`
	Size       int    `json:"size_bytes"`
	Recipients int    `json:"recipients"`
	Clients    int    `json:"clients"`
	// Backlog queues every message while the sinks are down, then brings
	// them up and flushes the queue: the figure is the time to drain.
	Backlog bool `json:"backlog"`
}

// defaultWorkloads are the four scenarios of docs/benchmarks.md, sized so
// that `make bench` (one run of each, against both relays, with both
// generators where they apply) stays under 10 minutes on two cores.
// --drain-messages 100000 gives the full backlog.
func defaultWorkloads() []workload {
	return []workload{
		{Name: "small", Title: "small transactional", Messages: 15000, Size: 2 << 10, Recipients: 1, Clients: 50},
		{Name: "multi", Title: "multi-recipient", Messages: 2000, Size: 10 << 10, Recipients: 5, Clients: 20},
		{Name: "large", Title: "large", Messages: 300, Size: 1 << 20, Recipients: 1, Clients: 10},
		{Name: "drain", Title: "backlog drain", Messages: 20000, Size: 2 << 10, Recipients: 1, Clients: 50, Backlog: true},
	}
}

func (wl workload) String() string {
	return fmt.Sprintf("%s: %d msgs × %s, %d rcpt, C=%d", wl.Title, wl.Messages, size(wl.Size), wl.Recipients, wl.Clients)
}

func size(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// messages builds the workload's mail: a small header per message (it
// names the run and the message, for a human reading a sink's log) and
// one shared body that pads every message to Size bytes.
type messages struct {
	wl      workload
	rec     *recorder
	domains []string
	body    []byte
}

func newMessages(wl workload, rec *recorder, domains []string) *messages {
	// A header is about 250 bytes; the body makes up the rest in lines
	// of 78 characters, none starting with a dot.
	line := []byte("The quick brown fox jumps over the lazy dog; mxout-bench pads with lines.....\r\n")
	body := bytes.Repeat(line, max(1, (wl.Size-250)/len(line)))
	return &messages{wl: wl, rec: rec, domains: domains, body: body}
}

// envelope returns message seq's sender and recipients: recipient j goes
// to domain (seq*R+j) mod N, so the recipients of one message spread over
// different domains.
func (m *messages) envelope(seq int) (string, []string) {
	to := make([]string, m.wl.Recipients)
	for j := range to {
		to[j] = recipient(j, m.domains[(seq*m.wl.Recipients+j)%len(m.domains)])
	}
	return m.rec.sender(seq), to
}

func (m *messages) header(seq int, from string, to []string) []byte {
	return fmt.Appendf(nil, "From: <%s>\r\nTo: <%s>\r\nSubject: mxout-bench %s message %d\r\n"+
		"Date: Wed, 25 Nov 2026 12:00:00 +0000\r\nMessage-ID: <%d.%s@client.bench.invalid>\r\n"+
		"X-Mxout-Bench: run=%s seq=%d\r\n\r\n",
		from, to[0], m.wl.Name, seq, seq, m.rec.tag, m.rec.tag, seq)
}

// loadResult is what the clients saw.
type loadResult struct {
	Start, End time.Duration // since the world's epoch: first connection, last reply
	First      time.Duration // since the epoch: the first 250
	Accepted   int
	Refused    int
	Latencies  []time.Duration // accept latency of each accepted message
	// Untimed: the load cannot time single messages (Latencies is empty).
	Untimed bool
	Errors  map[string]int // distinct refusals and connection errors, counted
	// CPU is the CPU time of the load's own processes (0 for the Go
	// clients, which run in this process).
	CPU time.Duration
}

// submitter is one client session with the relay: an SMTP connection
// (client), or an HTTP client of mxout's send API (apiClient).
type submitter interface {
	// send submits one message and returns its accept latency. An error
	// wrapping errTransaction is a refusal and the session goes on; any
	// other error means the session is unusable.
	send(from string, to []string, header, body []byte) (time.Duration, error)
	// Close ends the session politely; abort drops a broken one.
	Close()
	abort()
}

// drive sends the workload's messages to the SMTP server at addr from
// wl.Clients concurrent connections and records each 250 in rec.
func drive(addr string, w *world, m *messages) loadResult {
	return driveWith(w, m, func() (submitter, error) { return dial(addr) })
}

// driveWith sends the workload's messages from wl.Clients concurrent
// sessions made by connect and records each acceptance in rec.
func driveWith(w *world, m *messages, connect func() (submitter, error)) loadResult {
	wl := m.wl
	res := loadResult{Start: time.Duration(w.since()), Errors: map[string]int{}}
	var (
		next int64 = -1
		mu   sync.Mutex
		wg   sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		res.Refused++
		res.Errors[err.Error()]++
		mu.Unlock()
		m.rec.expectFewer(wl.Recipients)
	}
	for range wl.Clients {
		wg.Go(func() {
			var lat []time.Duration
			var c submitter
			defer func() {
				if c != nil {
					c.Close()
				}
				mu.Lock()
				res.Latencies = append(res.Latencies, lat...)
				mu.Unlock()
			}()
			for {
				seq := int(atomic.AddInt64(&next, 1))
				if seq >= wl.Messages {
					return
				}
				from, to := m.envelope(seq)
				header := m.header(seq, from, to)
				var err error
				// A broken session is retried once on a new one (the
				// relay may close sessions); a refusal is final.
				for try := 0; try < 2; try++ {
					if c == nil {
						if c, err = connect(); err != nil {
							c = nil
							continue
						}
					}
					var took time.Duration
					took, err = c.send(from, to, header, m.body)
					if err == nil {
						m.rec.accepted[seq].Store(w.since())
						lat = append(lat, took)
						break
					}
					if !errors.Is(err, errTransaction) {
						c.abort()
						c = nil
						continue
					}
					break
				}
				if err != nil {
					fail(err)
				}
			}
		})
	}
	wg.Wait()
	res.End = time.Duration(w.since())
	res.Accepted = len(res.Latencies)
	res.First = time.Duration(firstAccepted(m.rec))
	return res
}

// percentile returns the p-th percentile (0 < p <= 100) of sorted values by
// the nearest-rank method.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}
