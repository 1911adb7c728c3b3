package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mxout/mxout/queue"
)

// fill enqueues n messages of about bodySize bytes, one recipient each,
// spread over domains, from workers goroutines at once.
func fill(dir string, n, bodySize, domains, workers int) error {
	opts, err := options(dir)
	if err != nil {
		return err
	}
	q, err := queue.Open(opts)
	if err != nil {
		return err
	}
	before := q.Stats()
	tail := randomText(bodySize)
	var next, done atomic.Int64
	var firstErr error
	var errOnce sync.Once
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				env := queue.Envelope{
					From: fmt.Sprintf("app%d@sender.example", i%10),
					To:   []queue.RecipientParams{{Addr: fmt.Sprintf("user%d@d%d.example", i, i%int64(domains))}},
				}
				body := fmt.Appendf(nil, "Subject: queuegen %d\r\nFrom: app@sender.example\r\n\r\n", i)
				body = append(body, tail...)
				if _, err := q.Enqueue(context.Background(), "", env, body); err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
				if d := done.Add(1); d%(int64(n)/10+1) == 0 {
					fmt.Printf("  %d enqueued (%.0f/s)\n", d, float64(d)/time.Since(start).Seconds())
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if cerr := q.Close(); firstErr == nil {
		firstErr = cerr
	}
	if firstErr != nil {
		return fmt.Errorf("after %d messages: %w", done.Load(), firstErr)
	}
	u, err := diskUsage(dir)
	if err != nil {
		return err
	}
	total := before.Ready + before.Deferred + before.Held + done.Load()
	fmt.Printf("fill: %d messages of %d bytes in %s (%.0f/s); the queue now holds %d messages\n",
		done.Load(), len(tail)+40, elapsed.Round(time.Millisecond), float64(done.Load())/elapsed.Seconds(), total)
	fmt.Printf("disk: %s\n", u)
	return nil
}

// randomText is n bytes of base64 lines that do not compress, as mail
// bodies with attachments would not.
func randomText(n int) []byte {
	raw := make([]byte, n)
	rand.Read(raw)
	enc := base64.StdEncoding.EncodeToString(raw)[:n]
	var out []byte
	for len(out) < n {
		line := enc[:min(76, len(enc))]
		enc = enc[len(line):]
		out = append(out, line...)
		out = append(out, '\r', '\n')
		if len(enc) == 0 {
			break
		}
	}
	return out[:min(len(out), n)]
}
