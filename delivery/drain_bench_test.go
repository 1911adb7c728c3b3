package delivery

import (
	"testing"
	"time"

	"github.com/mxout/mxout/delivery/smtptest"
)

// BenchmarkDrainOneDomain delivers 5,000 queued messages to one domain
// with the default 64 workers and 20 connections: the case where the
// scheduler's admission (admission.go) passes over the most mail, so it
// shows what admission costs a single-destination drain.
//
//	go test -run '^$' -bench DrainOneDomain -benchtime 1x -count 5 ./delivery
func BenchmarkDrainOneDomain(b *testing.B) {
	const n = 5000
	for range b.N {
		b.StopTimer()
		w := newWorld(b)
		mx := w.mx("one.example", 10, smtptest.Options{})
		w.cfg.Workers = 64
		w.cfg.MaxConnectionsPerDomain = 20
		w.cfg.ConnectionIdleTimeout = 5 * time.Second
		w.enqueueEach(n, "one.example")
		b.StartTimer()
		w.start()
		for mx.MessageCount() < n {
			time.Sleep(5 * time.Millisecond)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "msgs/s")
}
