package smtptest_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mxout/mxout/delivery/smtptest"
)

// BenchmarkDiscardSink measures a Discard sink (client cost included) with
// one client per CPU, each reusing its connection as delivery does.
func BenchmarkDiscardSink(b *testing.B) {
	s := smtptest.NewServer(b, smtptest.Options{Discard: true})
	var arrived atomic.Int64
	s.OnMessage(func(smtptest.Message) { arrived.Add(1) })
	b.SetParallelism(1)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		c, err := smtp.Dial(s.Addr())
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		for pb.Next() {
			if err := c.Mail("a@example.org", nil); err != nil {
				b.Error(err)
				return
			}
			if err := c.Rcpt("b@example.net", nil); err != nil {
				b.Error(err)
				return
			}
			w, err := c.Data()
			if err != nil {
				b.Error(err)
				return
			}
			w.Write([]byte(body))
			if err := w.Close(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	s.WaitMessages(b, b.N, 10*time.Second)
	b.ReportMetric(float64(arrived.Load())/b.Elapsed().Seconds(), "msgs/s")
}
