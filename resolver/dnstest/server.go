// Package dnstest runs an in-process authoritative DNS server on loopback
// for tests, in the manner of net/http/httptest.
//
// Each Server has its own handler (never miekg/dns's global mux), so tests
// using it can run in parallel.
//
// It can also play a validating resolver for DNSSEC tests: answers for the
// zones marked with SetAuthenticated carry the AD bit when the query asks
// for it (DO or AD set), as unbound's would. Nothing is signed: the test
// decides what counts as validated.
package dnstest

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// defaultTTL applies to records whose TTL is 0.
const defaultTTL = 60

// Record is one resource record of a zone.
type Record struct {
	Type  string // "MX", "A", "AAAA", "CNAME", "TXT", "TLSA", "SOA", ...
	Value string // rdata in zone-file text: "10 mx.example.", "127.0.0.11", "0 ." (null MX), `"v=STSv1; id=1"`, "3 1 1 <hex>"
	TTL   uint32 // 0 means 60
}

// Query is one question the server received.
type Query struct {
	Name string // lowercase, without the trailing dot
	Type string // "MX", "A", ...
	DO   bool   // the query set EDNS0's DNSSEC OK bit
}

// Server is an authoritative DNS server listening on UDP and TCP at Addr.
type Server struct {
	// Addr is "127.0.0.1:port", the same port for UDP and TCP.
	Addr string

	t         testing.TB // nil for a server from Start
	udp, tcp  *dns.Server
	done      chan struct{} // closed by Close, cuts Delay short
	closeOnce sync.Once

	mu      sync.Mutex
	zone    map[string][]dns.RR
	fails   map[Query]int // keys without DO
	authed  map[string]bool
	delay   time.Duration
	queries []Query
}

// NewServer starts a server for zone, which maps lowercase names without
// the trailing dot ("mx.ok1.example") to their records. The server is
// closed by t.Cleanup; a malformed record fails the test.
//
// Answers: a name not in the zone gets NXDOMAIN; a name without records of
// the asked type gets an empty NOERROR (NODATA). A name with a CNAME is
// answered, for other types, with the CNAME and the target's records of
// the asked type if the target is in the zone (one hop). Negative answers
// carry the SOA of the closest enclosing name that has one. UDP answers
// larger than the client's EDNS0 size (512 without EDNS0) are truncated
// with the TC bit set.
func NewServer(t testing.TB, zone map[string][]Record) *Server {
	t.Helper()
	s, err := Start(zone)
	if err != nil {
		t.Fatalf("dnstest: %v", err)
	}
	s.t = t
	t.Cleanup(s.Close)
	return s
}

// Start is NewServer outside a test, for load tools such as
// cmd/mxout-bench: it returns an error instead of failing a test, and the
// caller must Close the server.
func Start(zone map[string][]Record) (*Server, error) {
	s := &Server{
		done:   make(chan struct{}),
		zone:   make(map[string][]dns.RR),
		fails:  make(map[Query]int),
		authed: make(map[string]bool),
	}
	for name, recs := range zone {
		rrs, err := parseRecords(name, recs)
		if err != nil {
			return nil, err
		}
		s.setRRs(normalize(name), rrs)
	}
	pc, l, err := listen()
	if err != nil {
		return nil, err
	}
	s.Addr = pc.LocalAddr().String()
	started := make(chan struct{}, 2)
	notify := func() { started <- struct{}{} }
	handler := dns.HandlerFunc(s.serve)
	s.udp = &dns.Server{PacketConn: pc, Handler: handler, NotifyStartedFunc: notify}
	s.tcp = &dns.Server{Listener: l, Handler: handler, NotifyStartedFunc: notify}
	errc := make(chan error, 2)
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		go func() { errc <- srv.ActivateAndServe() }()
	}
	for range 2 {
		select {
		case <-started:
		case err := <-errc:
			s.Close()
			return nil, fmt.Errorf("serve on %s: %w", s.Addr, err)
		case <-time.After(5 * time.Second):
			s.Close()
			return nil, fmt.Errorf("server on %s did not start", s.Addr)
		}
	}
	return s, nil
}

// Close stops the server; calling it more than once is fine.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		_ = s.udp.Shutdown()
		_ = s.tcp.Shutdown()
	})
}

// listen binds UDP and TCP on the same free loopback port.
func listen() (net.PacketConn, net.Listener, error) {
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, fmt.Errorf("listen udp: %w", err)
		}
		l, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, l, nil
		}
		pc.Close() // the TCP port is taken; try another
	}
	return nil, nil, fmt.Errorf("no loopback port free for both UDP and TCP")
}

// Set replaces the records of name; no records removes the name, so that
// it answers NXDOMAIN. It is safe to call while the server runs. A
// malformed record fails the test; on a server from Start, such a Set
// changes nothing.
func (s *Server) Set(name string, recs ...Record) {
	rrs, err := parseRecords(name, recs)
	if err != nil {
		if s.t != nil {
			s.t.Helper()
			s.t.Fatalf("dnstest: %v", err)
		}
		return
	}
	s.setRRs(normalize(name), rrs)
}

func (s *Server) setRRs(name string, rrs []dns.RR) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(rrs) == 0 {
		delete(s.zone, name)
		return
	}
	s.zone[name] = rrs
}

// parseRecords turns recs of name into resource records.
func parseRecords(name string, recs []Record) ([]dns.RR, error) {
	name = normalize(name)
	rrs := make([]dns.RR, 0, len(recs))
	for _, rec := range recs {
		ttl := rec.TTL
		if ttl == 0 {
			ttl = defaultTTL
		}
		text := fmt.Sprintf("%s. %d IN %s %s", name, ttl, strings.ToUpper(rec.Type), rec.Value)
		rr, err := dns.NewRR(text)
		if err != nil || rr == nil {
			return nil, fmt.Errorf("record %q: %v", text, err)
		}
		rrs = append(rrs, rr)
	}
	return rrs, nil
}

// Fail makes queries for name and qtype ("MX", "A", ...) answer rcode, such
// as dns.RcodeServerFailure; dns.RcodeSuccess restores normal answers.
func (s *Server) Fail(name, qtype string, rcode int) {
	q := Query{Name: normalize(name), Type: strings.ToUpper(qtype)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if rcode == dns.RcodeSuccess {
		delete(s.fails, q)
		return
	}
	s.fails[q] = rcode
}

// SetAuthenticated marks zone, the name and every name below it, as
// validated (on) or not (off): answers to queries with DO or AD set then
// carry the AD bit, as a validating resolver's would. An answer that
// follows a CNAME into a zone that is not validated does not. The mark
// of the closest enclosing marked name wins, so a subzone can be turned
// off inside a validated zone.
func (s *Server) SetAuthenticated(zone string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.authed[normalize(zone)] = on
}

// authenticated reports whether name is in a validated zone; s.mu must be
// held.
func (s *Server) authenticated(name string) bool {
	for {
		if on, ok := s.authed[name]; ok {
			return on
		}
		i := strings.IndexByte(name, '.')
		if i < 0 {
			return false
		}
		name = name[i+1:]
	}
}

// Delay makes every later answer wait d; 0 answers at once.
func (s *Server) Delay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Queries returns a copy of the questions received so far, in order.
func (s *Server) Queries() []Query {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Query(nil), s.queries...)
}

func (s *Server) serve(w dns.ResponseWriter, req *dns.Msg) {
	reply := new(dns.Msg)
	if len(req.Question) != 1 {
		reply.SetRcode(req, dns.RcodeFormatError)
		_ = w.WriteMsg(reply)
		return
	}
	q := req.Question[0]
	query := Query{Name: normalize(q.Name), Type: dns.TypeToString[q.Qtype]}
	opt := req.IsEdns0()
	query.DO = opt != nil && opt.Do()

	s.mu.Lock()
	s.queries = append(s.queries, query)
	delay := s.delay
	reply.SetReply(req)
	reply.Authoritative = true
	if rcode, ok := s.fails[Query{Name: query.Name, Type: query.Type}]; ok {
		reply.Rcode = rcode
	} else {
		s.answer(reply, query.Name, q.Qtype)
		reply.AuthenticatedData = (query.DO || req.AuthenticatedData) && s.validated(reply, query.Name)
	}
	s.mu.Unlock()

	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-s.done:
			return
		}
	}
	size := dns.MinMsgSize
	if opt != nil {
		size = max(int(opt.UDPSize()), dns.MinMsgSize)
		reply.SetEdns0(opt.UDPSize(), opt.Do())
	}
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		reply.Truncate(size)
	}
	_ = w.WriteMsg(reply)
}

// answer fills m for name/qtype from the zone; s.mu must be held. Records
// are copied because packing a message writes to them.
func (s *Server) answer(m *dns.Msg, name string, qtype uint16) {
	rrs, ok := s.zone[name]
	if !ok {
		m.Rcode = dns.RcodeNameError
		m.Ns = s.soaFor(name)
		return
	}
	if qtype != dns.TypeCNAME {
		for _, rr := range rrs {
			if cn, ok := rr.(*dns.CNAME); ok {
				m.Answer = append(m.Answer, dns.Copy(cn))
				m.Answer = append(m.Answer, ofType(s.zone[normalize(cn.Target)], qtype)...)
				return
			}
		}
	}
	m.Answer = ofType(rrs, qtype)
	if len(m.Answer) == 0 {
		m.Ns = s.soaFor(name)
	}
}

// validated reports whether every owner name in the answer (the asked
// name and any CNAME target) is in a validated zone; s.mu must be held.
func (s *Server) validated(m *dns.Msg, name string) bool {
	if !s.authenticated(name) {
		return false
	}
	for _, rr := range m.Answer {
		if !s.authenticated(normalize(rr.Header().Name)) {
			return false
		}
	}
	return true
}

// soaFor returns a copy of the SOA of name or its closest ancestor, if any.
func (s *Server) soaFor(name string) []dns.RR {
	for {
		if soa := ofType(s.zone[name], dns.TypeSOA); len(soa) > 0 {
			return soa[:1]
		}
		i := strings.IndexByte(name, '.')
		if i < 0 {
			return nil
		}
		name = name[i+1:]
	}
}

func ofType(rrs []dns.RR, qtype uint16) []dns.RR {
	var out []dns.RR
	for _, rr := range rrs {
		if rr.Header().Rrtype == qtype {
			out = append(out, dns.Copy(rr))
		}
	}
	return out
}

func normalize(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, "."))
}
