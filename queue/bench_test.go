package queue_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mxout/mxout/internal/queueconfig"
	"github.com/mxout/mxout/queue"
)

// The queue's micro-benchmarks run with the embedded defaults' badger
// settings and SyncWrites, in a directory under $TMPDIR: put TMPDIR on a
// real disk (not tmpfs), or the syncs cost nothing. docs/benchmarks.md
// records their numbers.
//
//	go test -run '^$' -bench . -benchmem ./queue/

// benchBody is a 2 KiB transactional message, below the value threshold:
// it is stored in the LSM tree beside its envelope.
var benchBody = []byte("From: app@sender.example\r\nTo: u@bench.example\r\nSubject: Your receipt\r\n\r\n" +
	strings.Repeat("Thank you for your order. This line pads the body to a realistic size.\r\n", 28))

func openBench(b *testing.B) *queue.Queue {
	b.Helper()
	opts, err := queueconfig.Defaults(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	opts.GCInterval = 0 // no value-log GC in the middle of a measurement
	q, err := queue.Open(opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { q.Close() })
	return q
}

func benchEnvelope(i int) queue.Envelope {
	return queue.Envelope{From: "app@sender.example", To: []queue.RecipientParams{{Addr: fmt.Sprintf("u%d@d%d.example", i, i%10)}}}
}

// parallel calls fn(0) … fn(n-1) from workers goroutines.
func parallel(b *testing.B, workers, n int, fn func(i int) error) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				if err := fn(i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
}

func enqueue(q *queue.Queue, i int) error {
	_, err := q.Enqueue(context.Background(), "", benchEnvelope(i), benchBody)
	return err
}

// BenchmarkEnqueue stores 2 KiB messages, each synced before Enqueue
// returns, from 1 and from 64 concurrent submitters: one submitter pays a
// whole sync per message; many share each sync (group commit).
func BenchmarkEnqueue(b *testing.B) {
	for _, writers := range []int{1, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			q := openBench(b)
			b.SetBytes(int64(len(benchBody)))
			b.ResetTimer()
			parallel(b, writers, b.N, func(i int) error { return enqueue(q, i) })
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// BenchmarkLease leases queued messages in batches of 64, as the delivery
// scheduler does with 64 free workers: a scan of the due index and one
// synced write that pushes each message's due time forward.
func BenchmarkLease(b *testing.B) {
	q := openBench(b)
	parallel(b, 64, b.N, func(i int) error { return enqueue(q, i) })
	now := time.Now().Add(time.Second)
	b.ResetTimer()
	for leased := 0; leased < b.N; {
		jobs, err := q.Lease(now, 64)
		if err != nil {
			b.Fatal(err)
		}
		if len(jobs) == 0 {
			b.Fatalf("leased %d of %d", leased, b.N)
		}
		leased += len(jobs)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkComplete records delivered messages (the record and the body
// are deleted in one synced transaction each) from 64 concurrent workers.
func BenchmarkComplete(b *testing.B) {
	q := openBench(b)
	parallel(b, 64, b.N, func(i int) error { return enqueue(q, i) })
	benchDelivered(b, q, q.Complete, "msgs/s")
}

// BenchmarkRecord records one destination's result on leased messages to
// five domains, keeping the lease (what delivery writes after each
// destination's transaction but the last), from 64 concurrent workers:
// the cost that per-destination writes add to a message to several
// domains. cpu-µs/op is the process's CPU time per write.
func BenchmarkRecord(b *testing.B) {
	q := openBench(b)
	parallel(b, 64, b.N, func(i int) error {
		env := benchEnvelope(i)
		for d := 1; d < 5; d++ {
			env.To = append(env.To, queue.RecipientParams{Addr: fmt.Sprintf("u%d@d%d.example", i, (i+d)%10)})
		}
		_, err := q.Enqueue(context.Background(), "", env, benchBody)
		return err
	})
	benchDelivered(b, q, q.Record, "writes/s")
}

// benchDelivered leases b.N queued messages and times write recording
// their first recipient delivered, from 64 concurrent workers; it reports
// the rate in unit and the process's CPU time per write.
func benchDelivered(b *testing.B, q *queue.Queue, write func(queue.ID, queue.Update) (*queue.Message, error), unit string) {
	ids := leaseAll(b, q)
	cpu := processCPU()
	b.ResetTimer()
	parallel(b, 64, len(ids), func(i int) error {
		u := queue.Update{Results: []queue.Result{{Index: 0, State: queue.Delivered, Attempted: time.Now(), Response: "250 ok"}}}
		_, err := write(ids[i], u)
		return err
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit)
	b.ReportMetric(float64((processCPU()-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
}

// leaseAll leases b.N queued messages and returns their IDs.
func leaseAll(b *testing.B, q *queue.Queue) []queue.ID {
	b.Helper()
	var ids []queue.ID
	for len(ids) < b.N {
		jobs, err := q.Lease(time.Now().Add(time.Second), 256)
		if err != nil || len(jobs) == 0 {
			b.Fatalf("lease: %v (%d of %d)", err, len(ids), b.N)
		}
		for _, m := range jobs {
			ids = append(ids, m.ID)
		}
	}
	return ids
}

// processCPU is the CPU time (user and system) the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkLeaseFilteredRefusingAll is the scheduler's deep scan over a
// backlog whose destination has no free connection: one LeaseFiltered
// call that passes over 20,000 due messages and leases none.
func BenchmarkLeaseFilteredRefusingAll(b *testing.B) {
	const backlog = 20000
	q := openBench(b)
	parallel(b, 64, backlog, func(i int) error { return enqueue(q, i) })
	now := time.Now().Add(time.Second)
	refuse := queue.LeaseFilter{Admit: func(string) bool { return false }, MaxSkipped: backlog}
	b.ResetTimer()
	for range b.N {
		if jobs, err := q.LeaseFiltered(now, 64, refuse); err != nil || len(jobs) != 0 {
			b.Fatalf("leased %d: %v", len(jobs), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/backlog*1000, "ns/skipped-entry")
}
