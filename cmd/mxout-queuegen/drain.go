package main

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mxout/mxout/queue"
)

// drain delivers every queued message on paper (Lease, then Complete as
// delivered, as the delivery engine would), then measures the disk before
// and after value-log GC, and again after a reopen.
func drain(dir string, workers int) error {
	opts, err := options(dir)
	if err != nil {
		return err
	}
	opts.GCInterval = 0 // only the explicit runs below, so they can be counted
	q, err := queue.Open(opts)
	if err != nil {
		return err
	}
	full, err := diskUsage(dir)
	if err != nil {
		return err
	}
	fmt.Printf("before drain: %d messages, disk %s\n", total(q.Stats()), full)
	start := time.Now()
	jobs := make(chan *queue.Message, 1000)
	var done atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := range jobs {
				res := make([]queue.Result, len(m.Recipients))
				for i := range res {
					res[i] = queue.Result{Index: i, State: queue.Delivered, Attempted: time.Now(), Response: "250 2.0.0 ok"}
				}
				if _, err := q.Complete(m.ID, queue.Update{Results: res}); err != nil {
					failed.Add(1)
					continue
				}
				done.Add(1)
			}
		}()
	}
	for {
		batch, err := q.Lease(time.Now().Add(365*24*time.Hour), 200)
		if err != nil {
			close(jobs)
			wg.Wait()
			q.Close()
			return err
		}
		if len(batch) == 0 {
			break
		}
		for _, m := range batch {
			jobs <- m
		}
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)
	fmt.Printf("drain: %d messages completed in %s (%.0f/s), %d failed; %d left\n",
		done.Load(), elapsed.Round(time.Millisecond), float64(done.Load())/elapsed.Seconds(), failed.Load(), total(q.Stats()))
	statsStart := time.Now()
	q.Stats()
	pageStart := time.Now()
	_, _, err = q.List(queue.ListOptions{Limit: 100})
	fmt.Printf("on the drained queue: Stats %s, first List page %s (%v)\n",
		pageStart.Sub(statsStart).Round(time.Microsecond), time.Since(pageStart).Round(time.Microsecond), err)
	drained, err := diskUsage(dir)
	if err != nil {
		return err
	}
	fmt.Printf("after drain, before GC: %s\n", drained)
	gcStart := time.Now()
	n := q.RunGC()
	fmt.Printf("GC while open: %d value-log files rewritten in %s; disk %s\n", n, time.Since(gcStart).Round(time.Millisecond), must(diskUsage(dir)))
	if err := q.Close(); err != nil {
		return err
	}
	// A restart: Close flushed the memtable and compacted L0, so badger
	// now knows which value-log entries are garbage.
	for round := 1; round <= 3; round++ {
		q, err = queue.Open(opts)
		if err != nil {
			return err
		}
		gcStart = time.Now()
		n = q.RunGC()
		if err := q.Close(); err != nil {
			return err
		}
		fmt.Printf("reopen %d + GC: %d files rewritten in %s; disk %s\n", round, n, time.Since(gcStart).Round(time.Millisecond), must(diskUsage(dir)))
		if n == 0 {
			break
		}
	}
	return nil
}

func total(s queue.Stats) int64 { return s.Ready + s.Deferred + s.Inflight + s.Held }

func must(u usage, err error) string {
	if err != nil {
		return err.Error()
	}
	return u.String()
}
