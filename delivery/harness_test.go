package delivery

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/internal/testnet"
	"github.com/mxout/mxout/internal/testwait"
	"github.com/mxout/mxout/queue"
	"github.com/mxout/mxout/queue/queuetest"
	"github.com/mxout/mxout/resolver"
	"github.com/mxout/mxout/resolver/dnstest"
)

// world is a delivery test setup: a DNS server, MX servers sharing one
// port on distinct loopback addresses, a real queue and an engine.
type world struct {
	t       testing.TB
	dns     *dnstest.Server
	net     *testnet.Net
	port    int
	q       *queue.Queue
	e       *Engine
	cfg     Config
	notes   *recordingNotifier
	records map[string][]dnstest.Record
	dnssec  bool // the engine's resolver asks for DNSSEC (tlspolicy_test.go)
	// wire is how the world's plaintext MX servers talk (eachWire).
	wire wire
}

// wire is a way for MX servers to take a transaction's commands.
type wire struct {
	name string
	// noPipelining: PIPELINING is not offered, so commands go one at a
	// time (lockstep); coalesce: pipelined replies come in one write.
	noPipelining, coalesce bool
}

// wires are the ways eachWire tries: go-smtp's own (PIPELINING offered,
// a write per reply), replies to pipelined commands together (as from
// Postfix's smtpd), and lockstep.
var wires = []wire{
	{name: "pipelined"},
	{name: "pipelined-coalesced", coalesce: true},
	{name: "lockstep", noPipelining: true},
}

// wiresFor is wires for plaintext MX servers; TLS ones always pipeline
// (smtptest edits the wire below TLS only).
func wiresFor(tls bool) []wire {
	if tls {
		return wires[:1]
	}
	return wires
}

// eachWire runs test once per wire, each time in a world of its own
// whose plaintext MX servers talk that way.
func eachWire(t *testing.T, test func(t *testing.T, w *world)) {
	t.Helper()
	eachWireOf(t, wires, test)
}

// eachWireOf is eachWire for the wires ws.
func eachWireOf(t *testing.T, ws []wire, test func(t *testing.T, w *world)) {
	t.Helper()
	for _, wr := range ws {
		t.Run(wr.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			w.wire = wr
			test(t, w)
		})
	}
}

// wired sets w's wire on the options of a plaintext MX server.
func (w *world) wired(opts smtptest.Options) smtptest.Options {
	if !opts.TLS && !opts.Implicit && !opts.BrokenTLS {
		opts.NoPipelining = opts.NoPipelining || w.wire.noPipelining
		opts.CoalesceReplies = opts.CoalesceReplies || w.wire.coalesce
	}
	return opts
}

func newWorld(t testing.TB) *world {
	t.Helper()
	w := &world{t: t, dns: dnstest.NewServer(t, nil), notes: &recordingNotifier{}}
	w.net = testnet.New(t)
	w.port = w.net.Port
	w.q = queuetest.Open(t, queuetest.Options(t.TempDir()))
	w.cfg = Config{
		Workers: 4, Port: w.port, HeloName: "relay.test.invalid", TLS: configs.TLSOpportunistic,
		MaxConnectionsPerDomain: 4, MaxMessagesPerConnection: 100, ConnectionIdleTimeout: 2 * time.Second,
		Retry: Backoff{Initial: 50 * time.Millisecond, Multiplier: 2, MaxInterval: 200 * time.Millisecond, MaxLifetime: time.Hour},
		Timeouts: configs.DeliveryTimeouts{
			Connect: 2 * time.Second, Greeting: 5 * time.Second, Helo: 5 * time.Second, Mail: 5 * time.Second,
			Rcpt: 5 * time.Second, DataInit: 5 * time.Second, DataBlock: 5 * time.Second, DataDone: 5 * time.Second,
			Rset: 2 * time.Second, Attempt: defaultTimeouts(t).Attempt,
		},
		Notifier: w.notes,
		// The MX servers live on loopback, which the guard refuses otherwise.
		AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
	}
	return w
}

// mx starts an MX server for domain at the next loopback address and
// publishes "domain MX pref host" with host's A record. The server's
// certificate is valid for host.
func (w *world) mx(domain string, pref int, opts smtptest.Options) *smtptest.Server {
	w.t.Helper()
	ip := w.net.NextIP()
	opts.Addr = w.net.Addr(ip)
	host := fmt.Sprintf("mx-%s.%s", strings.ReplaceAll(ip, ".", "-"), domain)
	if opts.Hostname == "" {
		opts.Hostname = host // greeting and certificate name
	}
	s := smtptest.NewServer(w.t, w.wired(opts))
	w.addMX(domain, pref, host)
	w.dns.Set(host, dnstest.Record{Type: "A", Value: ip})
	return s
}

func (w *world) addMX(domain string, pref int, host string) {
	recs := w.records[domain]
	recs = append(recs, dnstest.Record{Type: "MX", Value: fmt.Sprintf("%d %s.", pref, host)})
	if w.records == nil {
		w.records = map[string][]dnstest.Record{}
	}
	w.records[domain] = recs
	w.dns.Set(domain, recs...)
}

// start builds the engine with w.cfg and runs it until the test ends.
func (w *world) start() {
	w.t.Helper()
	res, err := resolver.New(resolver.Config{Servers: []string{w.dns.Addr}, Timeout: 2 * time.Second, DNSSEC: w.dnssec})
	if err != nil {
		w.t.Fatal(err)
	}
	e, err := New(w.cfg, w.q, res)
	if err != nil {
		w.t.Fatal(err)
	}
	w.e = e
	go e.Run()
	w.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		e.Shutdown(ctx)
		w.q.Close()
	})
}

func (w *world) enqueue(from string, to ...string) queue.ID {
	w.t.Helper()
	env := queue.Envelope{From: from}
	for _, a := range to {
		env.To = append(env.To, queue.RecipientParams{Addr: a})
	}
	return w.enqueueEnv(env, "From: "+from+"\r\nSubject: test\r\n\r\nhello\r\n")
}

// enqueueEnv queues body under env.
func (w *world) enqueueEnv(env queue.Envelope, body string) queue.ID {
	w.t.Helper()
	id, err := w.q.Enqueue(context.Background(), "", env, []byte(body))
	if err != nil {
		w.t.Fatal(err)
	}
	return id
}

// waitFinal waits until the notifier has seen a final result for n
// recipients of id.
func (w *world) waitFinal(id queue.ID, n int, timeout time.Duration) map[string]queue.Result {
	w.t.Helper()
	var got map[string]queue.Result
	if !testwait.Until(timeout, func() bool {
		// The notifier runs before the queue records the round.
		got = w.notes.final(id)
		return len(got) >= n && !w.q.Leased(id)
	}) {
		w.t.Fatalf("message %s: %d of %d recipients final after %v: %+v", id, len(w.notes.final(id)), n, timeout, w.notes.final(id))
	}
	return got
}

// recordingNotifier remembers every result by message and recipient. err,
// when set, is returned for rounds with a failed recipient; delay, when
// set, asks the queue to record a delay notice.
type recordingNotifier struct {
	mu      sync.Mutex
	results map[queue.ID]map[string][]queue.Result
	rounds  []queue.Round
	err     error
	delay   bool
}

func (n *recordingNotifier) Notify(_ context.Context, r queue.Round) (queue.Notified, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	m := r.Message
	if n.results == nil {
		n.results = map[queue.ID]map[string][]queue.Result{}
	}
	if n.results[m.ID] == nil {
		n.results[m.ID] = map[string][]queue.Result{}
	}
	n.rounds = append(n.rounds, r)
	failed := false
	for _, res := range r.Results {
		addr := m.Recipients[res.Index].Addr
		if res.State == queue.Failed {
			failed = true
			if n.err != nil {
				res.State = queue.Pending // what the engine records instead
			}
		}
		n.results[m.ID][addr] = append(n.results[m.ID][addr], res.Result)
	}
	if failed && n.err != nil {
		return queue.Notified{DelayNotified: n.delay}, n.err
	}
	return queue.Notified{DelayNotified: n.delay}, nil
}

func (n *recordingNotifier) setErr(err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.err = err
}

func (n *recordingNotifier) allRounds() []queue.Round {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]queue.Round(nil), n.rounds...)
}

func (n *recordingNotifier) final(id queue.ID) map[string]queue.Result {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := map[string]queue.Result{}
	for addr, rs := range n.results[id] {
		if last := rs[len(rs)-1]; last.State != queue.Pending {
			out[addr] = last
		}
	}
	return out
}

func (n *recordingNotifier) all(id queue.ID, addr string) []queue.Result {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]queue.Result(nil), n.results[id][addr]...)
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

// recordingDialer records every address the engine dials. It dials only
// loopback addresses and refuses the others as a firewall would, so that
// a test of where the engine must not connect never sends a packet
// beyond this host, even when the engine under test is wrong.
type recordingDialer struct {
	mu     sync.Mutex
	dialed []string
	d      net.Dialer
	read   atomic.Int64 // octets read from all connections
}

func (r *recordingDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	r.mu.Lock()
	r.dialed = append(r.dialed, address)
	r.mu.Unlock()
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !ap.Addr().Unmap().IsLoopback() {
		return nil, &net.OpError{Op: "dial", Net: network, Err: fmt.Errorf("test dialer: %s is not loopback", address)}
	}
	c, err := r.d.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return countingConn{c, &r.read}, nil
}

// countingConn counts the octets read from it.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// addresses returns the addresses dialed so far.
func (r *recordingDialer) addresses() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.dialed...)
}

// hostPort parses a host:port address for a Config.
func hostPort(t testing.TB, s string) configs.HostPort {
	t.Helper()
	hp, err := configs.ParseHostPort(s)
	if err != nil {
		t.Fatal(err)
	}
	return hp
}

// defaultTimeouts are the configuration's default delivery timeouts.
func defaultTimeouts(t testing.TB) configs.DeliveryTimeouts {
	t.Helper()
	c, err := configs.Defaults()
	if err != nil {
		t.Fatal(err)
	}
	return c.Delivery.Timeouts
}
