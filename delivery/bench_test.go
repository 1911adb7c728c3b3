package delivery

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/internal/testnet"
	"github.com/mxout/mxout/queue"
	"github.com/mxout/mxout/resolver"
	"github.com/mxout/mxout/resolver/dnstest"
)

// benchBody is a typical 2 KiB transactional message.
var benchBody = []byte("From: app@sender.example\r\nTo: u@bench.example\r\nSubject: Your receipt\r\n\r\n" +
	strings.Repeat("Thank you for your order. This line pads the body to a realistic size.\r\n", 28))

// BenchmarkDeliverOneDestination measures messages per second delivered
// to one destination (one MX, a Discard sink on loopback) by 8 concurrent
// workers under the default per-domain cap of 20, with and without
// connection reuse, in plaintext and with STARTTLS, and in plaintext
// with and without PIPELINING offered. It drives the delivery path from
// the rate/dead checks through the MX walk and the SMTP transaction; the
// queue is left out, so its disk syncs do not hide the difference.
// cpu-µs/msg is the process's CPU time per message, the sink's included.
//
//	go test -run '^$' -bench DeliverOneDestination -count 5 ./delivery/
func BenchmarkDeliverOneDestination(b *testing.B) {
	for _, tls := range []bool{false, true} {
		for _, reuse := range []bool{true, false} {
			for _, pipelining := range []bool{true, false} {
				if tls && !pipelining {
					continue // smtptest edits the EHLO reply below TLS only
				}
				name := fmt.Sprintf("tls=%v/reuse=%v/pipelining=%v", tls, reuse, pipelining)
				b.Run(name, func(b *testing.B) { benchOneDestination(b, tls, reuse, pipelining) })
			}
		}
	}
}

func benchOneDestination(b *testing.B, tls, reuse, pipelining bool) {
	tn := testnet.New(b)
	ip := tn.NextIP()
	sink := smtptest.NewServer(b, smtptest.Options{Addr: tn.Addr(ip), TLS: tls, Discard: true, NoPipelining: !pipelining})
	var arrived atomic.Int64
	sink.OnMessage(func(smtptest.Message) { arrived.Add(1) })
	dns := dnstest.NewServer(b, map[string][]dnstest.Record{
		"bench.example":    {{Type: "MX", Value: "10 mx.bench.example."}},
		"mx.bench.example": {{Type: "A", Value: ip}},
	})
	res, err := resolver.New(resolver.Config{Servers: []string{dns.Addr}, Timeout: 2 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	cfg := Config{
		Workers: 8, Port: tn.Port, HeloName: "relay.bench.invalid", TLS: configs.TLSOpportunistic,
		MaxConnectionsPerDomain: 20, MaxMessagesPerConnection: 100, ConnectionIdleTimeout: 2 * time.Second,
		AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Timeouts:        defaultTimeouts(b),
	}
	if !reuse {
		cfg.ConnectionIdleTimeout = 0
	}
	e, err := New(cfg, nil, res)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(e.pool.close)
	var seq atomic.Int64
	var failed atomic.Int64
	ctx := context.Background()
	b.SetParallelism(4) // 8 workers on 2 CPUs
	cpu := processCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := seq.Add(1)
			m := &queue.Message{
				ID:         queue.ID(fmt.Sprintf("bench%015d", n)),
				Envelope:   queue.Envelope{From: "app@sender.example"},
				Recipients: []queue.Recipient{{RecipientParams: queue.RecipientParams{Addr: "u@bench.example"}}},
			}
			outs, _ := e.deliverGroup(ctx, m, benchBody, group{dest: "bench.example", idxs: []int{0}})
			if outs[0].State != queue.Delivered {
				failed.Add(1)
			}
		}
	})
	b.StopTimer()
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d of %d deliveries failed", f, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64((processCPU()-cpu).Microseconds())/float64(b.N), "cpu-µs/msg")
	b.ReportMetric(float64(sink.Connections())/float64(b.N), "conns/msg")
}

// processCPU is the CPU time (user and system) the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
