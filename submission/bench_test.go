package submission

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mxout/mxout/queue"
)

// The DATA path's micro-benchmarks: concurrent clients on loopback send 2
// KiB messages over kept connections, with the envelope pipelined; the
// server reads, checks and stamps each message and hands it to a queue
// that discards it (the SMTP side alone) or to a real, synced queue in
// $TMPDIR (the whole acceptance path: put TMPDIR on a real disk). The
// allocations counted include the clients'. docs/benchmarks.md records
// the numbers.
//
//	go test -run '^$' -bench Data -benchmem ./submission/

var benchMessage = benchMessageOf(27)

// benchLarge is a message of about 1 MiB, as the large workload of make
// bench sends: the case where the DATA path's cost per byte shows.
var benchLarge = benchMessageOf(14564)

// benchMessageOf is a message with that many 72-character body lines, dot
// terminated.
func benchMessageOf(lines int) string {
	return "From: app@sender.example\r\nTo: u@bench.example\r\nSubject: Your receipt\r\n" +
		"Date: Wed, 25 Nov 2026 12:00:00 +0000\r\nMessage-ID: <1@sender.example>\r\n\r\n" +
		strings.Repeat("Thank you for your order. This line pads the body to a realistic size.\r\n", lines) + ".\r\n"
}

// discardQueue accepts every message and keeps nothing.
type discardQueue struct{ n atomic.Int64 }

func (d *discardQueue) Enqueue(_ context.Context, id queue.ID, _ queue.Envelope, _ []byte) (queue.ID, error) {
	d.n.Add(1)
	return id, nil
}

func BenchmarkData(b *testing.B) {
	b.Run("queue=discard/clients=8", func(b *testing.B) { benchData(b, &discardQueue{}, 8, benchMessage) })
	b.Run("queue=badger/clients=50", func(b *testing.B) { benchData(b, openBenchQueue(b), 50, benchMessage) })
	b.Run("size=1MiB/queue=discard/clients=10", func(b *testing.B) { benchData(b, &discardQueue{}, 10, benchLarge) })
}

func openBenchQueue(b *testing.B) *queue.Queue {
	b.Helper()
	q, err := queue.Open(queue.Options{
		Dir: b.TempDir(), MinFreeBytes: 1 << 20, MaxMessageBytes: 64 << 10, LeaseDuration: time.Minute,
		MemtableBytes: 8 << 20, NumMemtables: 2, BlockCacheBytes: 16 << 20, IndexCacheBytes: 16 << 20,
		ValueLogFileBytes: 64 << 20, ValueThreshold: 1 << 10,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { q.Close() })
	return q
}

func benchData(b *testing.B, q Queue, clients int, msg string) {
	cfg := testConfig()
	cfg.MaxMessageBytes = 2 << 20
	cfg.Now = nil
	cfg.MaxConnections = clients + 10
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil)) // one line per message, as in production
	srv, err := New(cfg, q)
	if err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l, "none") }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-served
	}()
	conns := make([]*benchClient, clients)
	for i := range conns {
		if conns[i], err = dialBench(l.Addr().String()); err != nil {
			b.Fatal(err)
		}
		defer conns[i].c.Close()
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.ResetTimer()
	for _, c := range conns {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if err := c.send(msg); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

type benchClient struct {
	c net.Conn
	r *textproto.Reader
	w *bufio.Writer
}

func dialBench(addr string) (*benchClient, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	bc := &benchClient{c: c, r: textproto.NewReader(bufio.NewReader(c)), w: bufio.NewWriter(c)}
	if _, _, err := bc.r.ReadResponse(220); err != nil {
		return nil, err
	}
	bc.w.WriteString("EHLO client.example\r\n")
	if err := bc.w.Flush(); err != nil {
		return nil, err
	}
	_, _, err = bc.r.ReadResponse(250)
	return bc, err
}

// send pipelines MAIL, RCPT and DATA, then sends the message.
func (bc *benchClient) send(msg string) error {
	bc.w.WriteString("MAIL FROM:<app@sender.example>\r\nRCPT TO:<u@bench.example>\r\nDATA\r\n")
	if err := bc.w.Flush(); err != nil {
		return err
	}
	for _, code := range []int{250, 250, 354} {
		if _, _, err := bc.r.ReadResponse(code); err != nil {
			return fmt.Errorf("envelope: %w", err)
		}
	}
	bc.w.WriteString(msg)
	if err := bc.w.Flush(); err != nil {
		return err
	}
	_, _, err := bc.r.ReadResponse(250)
	return err
}
