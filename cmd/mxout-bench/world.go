package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/internal/testnet"
	"github.com/mxout/mxout/resolver/dnstest"
)

// destinations is where a relay delivers: one sink per domain, each on
// its own loopback address, all at one port (mxout's delivery.port), and
// the DNS server that publishes the domains' MX and A records. Postfix
// gets the same hosts through a transport map.
type destinations struct {
	Domains []string
	// Hosts[i] is the IP address of the sink of Domains[i].
	Hosts []string
	Port  int
	DNS   string // "127.0.0.1:port", UDP and TCP
}

// world is the benchmark's own side of the network, in this process: the
// DNS server, and the go-smtp sinks, one per destination domain at one
// shared port. The sinks discard bodies and record each recipient's
// arrival time. Its clock (Epoch) times every run, whatever the generator.
type world struct {
	destinations

	dns   *dnstest.Server
	sinks []*smtptest.Server
	rec   atomic.Pointer[recorder]
	// Epoch is the zero of every timestamp the benchmark records.
	Epoch time.Time
}

// newWorld starts n sinks and the DNS server.
func newWorld(n int) (*world, error) {
	tn, err := testnet.Pick()
	if err != nil {
		return nil, err
	}
	w := &world{destinations: destinations{Port: tn.Port}, Epoch: time.Now()}
	zone := map[string][]dnstest.Record{}
	for i := range n {
		domain := fmt.Sprintf("d%d.bench.invalid", i)
		ip := tn.NextIP()
		sink, err := smtptest.Start(smtptest.Options{Addr: tn.Addr(ip), Hostname: "mx." + domain, Discard: true})
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("sink for %s: %w", domain, err)
		}
		sink.OnMessage(w.arrived)
		w.sinks = append(w.sinks, sink)
		w.Domains = append(w.Domains, domain)
		w.Hosts = append(w.Hosts, ip)
		zone[domain] = []dnstest.Record{{Type: "MX", Value: "10 mx." + domain + "."}}
		zone["mx."+domain] = []dnstest.Record{{Type: "A", Value: ip}}
	}
	if w.dns, err = dnstest.Start(zone); err != nil {
		w.Close()
		return nil, err
	}
	w.DNS = w.dns.Addr
	return w, nil
}

// Close stops every server.
func (w *world) Close() {
	for _, s := range w.sinks {
		s.Close()
	}
	if w.dns != nil {
		w.dns.Close()
	}
}

// Down makes every sink refuse connections, as hosts that are down do.
func (w *world) Down() {
	for _, s := range w.sinks {
		s.Down()
	}
}

// Up brings the sinks back.
func (w *world) Up() error {
	var errs []error
	for _, s := range w.sinks {
		errs = append(errs, s.Up())
	}
	return errors.Join(errs...)
}

// since is the time elapsed since the epoch, the unit of every timestamp.
func (w *world) since() int64 { return int64(time.Since(w.Epoch)) }

// arrived is the sinks' OnMessage: it records each recipient of a message
// of the current run once; duplicates and strays are ignored. Mail from
// the run's anonymous sender (smtp-source sends every message from one
// address) is counted without telling messages apart.
func (w *world) arrived(m smtptest.Message) {
	r := w.rec.Load()
	if r == nil {
		return
	}
	now := w.since()
	if m.From == r.anonSender() {
		for range m.To {
			r.arriveAnon(now)
		}
		return
	}
	seq, ok := r.parseSender(m.From)
	if !ok {
		return
	}
	for _, to := range m.To {
		j, ok := parseRecipient(to)
		if ok && j < r.rcpts {
			r.arrive(seq*r.rcpts+j, now)
		}
	}
}

// recorder keeps one run's timestamps (nanoseconds since the world's
// epoch; 0 is "not yet"). The Go clients and sinks know each message
// (accepted, arrivals); Postfix's smtp-source and smtp-sink only count, so
// their arrivals go to anonLast and count alone.
type recorder struct {
	tag      string // in every envelope sender, so strays from an earlier run are ignored
	rcpts    int
	accepted []atomic.Int64 // per message: when its 250 arrived
	arrivals []atomic.Int64 // per message and recipient: when it reached a sink
	anonLast atomic.Int64   // the last arrival counted without its message
	count    atomic.Int64   // arrivals so far
	want     atomic.Int64   // arrivals that complete the run
	done     chan struct{}  // closed when count reaches want
	closed   atomic.Bool
}

func newRecorder(tag string, messages, rcpts int) *recorder {
	r := &recorder{
		tag:      tag,
		rcpts:    rcpts,
		accepted: make([]atomic.Int64, messages),
		arrivals: make([]atomic.Int64, messages*rcpts),
		done:     make(chan struct{}),
	}
	r.want.Store(int64(messages * rcpts))
	return r
}

// sender is the envelope sender of message seq; it carries the run's tag
// and the sequence number, which is how a sink knows the message.
func (r *recorder) sender(seq int) string {
	return fmt.Sprintf("b%s.%d@sender.bench.invalid", r.tag, seq)
}

// anonSender is the one envelope sender of every message of a load that
// cannot number its messages (smtp-source).
func (r *recorder) anonSender() string { return "b" + r.tag + "@sender.bench.invalid" }

func (r *recorder) parseSender(addr string) (int, bool) {
	local, ok := strings.CutSuffix(addr, "@sender.bench.invalid")
	if !ok {
		return 0, false
	}
	rest, ok := strings.CutPrefix(local, "b"+r.tag+".")
	if !ok {
		return 0, false
	}
	seq, err := strconv.Atoi(rest)
	if err != nil || seq < 0 || seq >= len(r.accepted) {
		return 0, false
	}
	return seq, true
}

// recipient is the j-th recipient of a message, at domain.
func recipient(j int, domain string) string { return fmt.Sprintf("r%d@%s", j, domain) }

func parseRecipient(addr string) (int, bool) {
	local, _, ok := strings.Cut(addr, "@")
	if !ok || !strings.HasPrefix(local, "r") {
		return 0, false
	}
	j, err := strconv.Atoi(local[1:])
	return j, err == nil && j >= 0
}

func (r *recorder) arrive(i int, now int64) {
	if now == 0 {
		now = 1
	}
	if !r.arrivals[i].CompareAndSwap(0, now) {
		return // a duplicate delivery
	}
	if r.count.Add(1) >= r.want.Load() {
		r.finish()
	}
}

// arriveAnon counts one arrival of a message the sink cannot name. It
// cannot tell a duplicate delivery from a new one.
func (r *recorder) arriveAnon(now int64) {
	for {
		last := r.anonLast.Load()
		if now <= last || r.anonLast.CompareAndSwap(last, now) {
			break
		}
	}
	if r.count.Add(1) >= r.want.Load() {
		r.finish()
	}
}

// expectFewer lowers the number of arrivals that completes the run, by
// the recipients of messages the relay refused.
func (r *recorder) expectFewer(n int) {
	if r.want.Add(-int64(n)) <= r.count.Load() {
		r.finish()
	}
}

func (r *recorder) finish() {
	if !r.closed.Swap(true) {
		close(r.done)
	}
}
