package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// badgerLogger sends badger's own log lines to slog. Badger's Info lines
// are routine (compactions, flushes), so they go out at debug level.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any)   { b.log(slog.LevelError, f, a...) }
func (b badgerLogger) Warningf(f string, a ...any) { b.log(slog.LevelWarn, f, a...) }
func (b badgerLogger) Infof(f string, a ...any)    { b.log(slog.LevelDebug, f, a...) }
func (b badgerLogger) Debugf(f string, a ...any)   { b.log(slog.LevelDebug, f, a...) }

func (b badgerLogger) log(level slog.Level, f string, a ...any) {
	if !b.l.Enabled(context.Background(), level) {
		return
	}
	b.l.Log(context.Background(), level, strings.TrimSpace(fmt.Sprintf(f, a...)))
}

// gcLoop garbage-collects the value log on a schedule, and early when
// deletes or deliveries have freed a value-log file's worth of bodies.
// Without it, bodies of delivered mail would never give their disk space
// back.
func (q *Queue) gcLoop() {
	defer close(q.gcDone)
	if q.opts.GCInterval <= 0 {
		<-q.stopGC
		return
	}
	t := time.NewTicker(q.opts.GCInterval)
	defer t.Stop()
	for {
		select {
		case <-q.stopGC:
			return
		case <-t.C:
		case <-q.gcKick:
		}
		q.RunGC()
	}
}

// freedBodies records body bytes that a committed delete made garbage and
// kicks the GC loop once they add up to a value-log file.
func (q *Queue) freedBodies(n int64) {
	if n <= 0 || q.opts.ValueLogFileBytes <= 0 {
		return
	}
	if q.freed.Add(n) < q.opts.ValueLogFileBytes {
		return
	}
	select {
	case q.gcKick <- struct{}{}:
	default:
	}
}

// RunGC rewrites value-log files that are at least half garbage, until
// none is left. It returns the number of files rewritten. Badger learns
// what is garbage when compactions drop deleted keys, so space freed by a
// delete comes back after the next memtable flush and compaction; the
// scheduled runs catch what an early run finds not yet reclaimable.
func (q *Queue) RunGC() int {
	if q.readOnly {
		return 0
	}
	q.freed.Store(0)
	q.gcRuns.Add(1)
	n := 0
	for {
		select {
		case <-q.stopGC:
			return n
		default:
		}
		err := q.db.RunValueLogGC(0.5)
		if err != nil {
			if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
				q.log.Warn("queue: value log GC failed", "err", err)
			}
			return n
		}
		n++
	}
}
