package delivery

import (
	"fmt"
	"testing"
	"time"

	"github.com/mxout/mxout/delivery/smtptest"
)

// BenchmarkBacklog measures a backlog for one slow destination, with the
// default 64 workers and cap of 20 connections, and a sink that takes
// 100 ms per message, so that at most 20 / 100 ms = 200 msgs/s can go:
//
//   - other: how long a message for another destination, queued once the
//     backlog's delivery has begun, takes to be delivered (s-to-other);
//
//   - drain: the backlog's delivery rate (msgs/s, against the 200 the
//     destination allows) and how often a message was postponed because
//     the destination's line was full (postponed/msg; overflow.go).
//
//     go test -run '^$' -bench Backlog -benchtime 1x -count 3 ./delivery/
func BenchmarkBacklog(b *testing.B) {
	const n = 3000
	b.Run(fmt.Sprintf("other/backlog=%d", n), func(b *testing.B) {
		for range b.N {
			w, slow := backlogWorld(b, n)
			w.mx("fast.example", 10, smtptest.Options{Discard: true})
			w.start()
			for slow.MessageCount() == 0 {
				time.Sleep(5 * time.Millisecond)
			}
			start := time.Now()
			other := w.enqueue("app@sender.example", "a@fast.example")
			w.waitFinal(other, 1, 10*time.Minute)
			b.ReportMetric(time.Since(start).Seconds(), "s-to-other")
		}
	})
	b.Run(fmt.Sprintf("drain/backlog=%d", n), func(b *testing.B) {
		for range b.N {
			w, slow := backlogWorld(b, n)
			start := time.Now()
			w.start()
			for slow.MessageCount() < n {
				time.Sleep(5 * time.Millisecond)
			}
			took := time.Since(start)
			postponed := 0
			for _, r := range w.notes.allRounds() {
				for _, res := range r.Results {
					if res.Postponed {
						postponed++
					}
				}
			}
			b.ReportMetric(float64(n)/took.Seconds(), "msgs/s")
			b.ReportMetric(float64(postponed)/n, "postponed/msg")
		}
	})
}

// backlogWorld queues n messages for slow.example, whose MX takes 100 ms
// per message.
func backlogWorld(b *testing.B, n int) (*world, *smtptest.Server) {
	w := newWorld(b)
	slow := w.mx("slow.example", 10, smtptest.Options{Discard: true})
	slow.SetDataDelay(100 * time.Millisecond)
	w.cfg.Workers = 64
	w.cfg.MaxConnectionsPerDomain = 20
	w.enqueueEach(n, "slow.example")
	return w, slow
}
