package delivery

import (
	"testing"
	"time"

	"github.com/mxout/mxout/delivery/smtptest"
)

// BenchmarkOtherDomainBehindSlowBacklog measures how long mail for a
// healthy domain waits behind a backlog for a slow one, with the default
// 64 workers and 20 connections per domain: 3,000 messages for
// slow.example (100 ms per DATA: about 15 s of work) are queued, and 5
// for fast.example either after them before delivery starts
// (queued-behind) or 2 s into the backlog's delivery (arriving-during).
// It reports the time from the start (or from the 5 messages' arrival)
// until fast.example has all 5 (ms-to-other-domain), and how many
// slow.example messages were delivered meanwhile (slow-delivered-meanwhile).
//
//	go test -run '^$' -bench OtherDomainBehindSlowBacklog -benchtime 1x -count 5 ./delivery
func BenchmarkOtherDomainBehindSlowBacklog(b *testing.B) {
	for _, during := range []bool{false, true} {
		name := "queued-behind"
		if during {
			name = "arriving-during"
		}
		b.Run(name, func(b *testing.B) {
			const backlog = 3000
			var waited time.Duration
			var meanwhile int
			for range b.N {
				b.StopTimer()
				w := newWorld(b)
				slow := w.mx("slow.example", 10, smtptest.Options{})
				slow.SetDataDelay(100 * time.Millisecond)
				fast := w.mx("fast.example", 10, smtptest.Options{})
				w.cfg.Workers = 64
				w.cfg.MaxConnectionsPerDomain = 20
				w.enqueueEach(backlog, "slow.example")
				if during {
					w.start()
					time.Sleep(2 * time.Second)
				} else {
					w.enqueueEach(5, "fast.example")
				}
				b.StartTimer()
				start, slowBefore := time.Now(), slow.MessageCount()
				if during {
					w.enqueueEach(5, "fast.example")
				} else {
					w.start()
				}
				for fast.MessageCount() < 5 {
					time.Sleep(2 * time.Millisecond)
				}
				waited += time.Since(start)
				meanwhile += slow.MessageCount() - slowBefore
			}
			b.ReportMetric(float64(waited.Milliseconds())/float64(b.N), "ms-to-other-domain")
			b.ReportMetric(float64(meanwhile)/float64(b.N), "slow-delivered-meanwhile")
			b.ReportMetric(0, "ns/op")
		})
	}
}
