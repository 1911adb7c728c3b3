// Package queueconfig maps the queue's config keys to queue.Options, so
// that `mxout serve`, the read-only `mxout queue` commands and the tools
// that measure the queue open it the same way. The queue package itself
// never reads the config.
package queueconfig

import (
	"log/slog"

	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/queue"
)

// Options returns the queue options of config c, with badger's logs going
// to log (nil: discarded).
func Options(c *configs.Config, log *slog.Logger) queue.Options {
	return queue.Options{
		Dir:               c.DataDir,
		MinFreeBytes:      int64(c.Queue.MinFreeBytes),
		MaxMessageBytes:   int64(c.Submission.MaxMessageBytes),
		LeaseDuration:     c.Queue.LeaseDuration,
		GCInterval:        c.Queue.GCInterval,
		MemtableBytes:     int64(c.Queue.Badger.MemtableBytes),
		NumMemtables:      c.Queue.Badger.NumMemtables,
		BlockCacheBytes:   int64(c.Queue.Badger.BlockCacheBytes),
		IndexCacheBytes:   int64(c.Queue.Badger.IndexCacheBytes),
		ValueLogFileBytes: int64(c.Queue.Badger.ValueLogFileBytes),
		ValueThreshold:    int64(c.Queue.Badger.ValueThreshold),
		Logger:            log,
	}
}

// Defaults returns the queue options of the embedded default config, in
// directory dir.
func Defaults(dir string, log *slog.Logger) (queue.Options, error) {
	c, err := configs.Defaults()
	if err != nil {
		return queue.Options{}, err
	}
	opts := Options(c, log)
	opts.Dir = dir
	return opts, nil
}
