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

// badgerLogger sends badger's own log lines to slog, and its errors and
// warnings to syncs, which catches the sync failures badger does not
// return (syncwatch.go). Badger's Info lines are routine (compactions,
// flushes), so they go out at debug level.
type badgerLogger struct {
	l     *slog.Logger
	syncs *syncWatch
}

func (b badgerLogger) Errorf(f string, a ...any)   { b.problem(slog.LevelError, f, a...) }
func (b badgerLogger) Warningf(f string, a ...any) { b.problem(slog.LevelWarn, f, a...) }
func (b badgerLogger) Infof(f string, a ...any)    { b.log(slog.LevelDebug, f, a...) }
func (b badgerLogger) Debugf(f string, a ...any)   { b.log(slog.LevelDebug, f, a...) }

// problem is an error or warning: syncs sees it whatever the log level.
func (b badgerLogger) problem(level slog.Level, f string, a ...any) {
	line := strings.TrimSpace(fmt.Sprintf(f, a...))
	b.syncs.observe(line)
	b.l.Log(context.Background(), level, line)
}

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
// none is left, and returns how many it rewrote.
//
// Badger learns what is garbage only when a compaction drops a deleted
// key's older version; until then a file full of delivered bodies looks
// live. On a queue that drains and goes idle, the deletions can sit one
// level above the bodies for good (that level stays below its compaction
// target), and nothing would ever be reclaimed. So when a pass rewrites
// nothing while the value log is much larger than the bodies still queued,
// RunGC first compacts every level down to the bottom (badger's Flatten),
// which tells the value log what is garbage (and drops the deletions
// themselves), and tries again; at most once per GC interval, since it
// rewrites the whole index. Deletions still in the memtable count after
// its next flush (or a restart).
func (q *Queue) RunGC() int {
	if q.readOnly {
		return 0
	}
	// A rewrite writes the live part of a file before it frees the file.
	if err := q.checkEmergencySpace(); err != nil {
		q.log.Warn("queue: value log GC skipped", "err", err)
		return 0
	}
	q.freed.Store(0)
	q.gcRuns.Add(1)
	n := q.rewriteValueLog()
	if n == 0 && q.garbageHidden() && q.flattenDue() {
		start := time.Now()
		if err := q.db.Flatten(1); err != nil {
			q.log.Warn("queue: compacting before value log GC failed", "err", err)
			return 0
		}
		n = q.rewriteValueLog()
		q.log.Info("queue: compacted the index to find delivered bodies", "took", time.Since(start).Round(time.Millisecond), "value_log_files_rewritten", n)
	}
	return n
}

// flattenDue limits the compaction to the bottom level, which rewrites the
// whole index, to once per GC interval: runs kicked by deletes come much
// more often during a drain. Without a schedule (GCInterval 0) only
// explicit runs happen, and each may compact.
func (q *Queue) flattenDue() bool {
	now := time.Now()
	q.gcMu.Lock()
	defer q.gcMu.Unlock()
	if q.opts.GCInterval > 0 && !q.lastFlatten.IsZero() && now.Sub(q.lastFlatten) < q.opts.GCInterval {
		return false
	}
	q.lastFlatten = now
	return true
}

// rewriteValueLog runs badger's value-log GC until it finds nothing to do.
func (q *Queue) rewriteValueLog() int {
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

// garbageHidden reports whether the value log holds much more than the
// bodies still queued: more than three value-log files beyond them (the
// file being written counts twice, as badger preallocates it).
func (q *Queue) garbageHidden() bool {
	_, vlog := q.db.Size()
	return vlog > q.bytes.Load()+3*q.opts.ValueLogFileBytes
}
