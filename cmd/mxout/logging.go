package main

import (
	"io"
	"log/slog"

	"github.com/mxout/mxout/configs"
)

// newLogger builds the process logger from log.level and log.format.
func newLogger(c configs.Log, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.Level.Slog()}
	if c.Format == configs.LogJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
