package main

import (
	"log/slog"
	"os"

	"github.com/mxout/mxout/internal/sdnotify"
)

// notifySystemd tells systemd the relay's state (packaging/mxout.service
// is Type=notify): READY=1 once every listener is bound and the queue is
// open, STOPPING=1 when shutting down. Outside systemd NOTIFY_SOCKET is
// unset and this does nothing.
func notifySystemd(log *slog.Logger, state string) {
	if err := sdnotify.Notify(os.Getenv("NOTIFY_SOCKET"), state); err != nil {
		log.Warn("telling systemd the state failed", "state", state, "err", err)
	}
}
