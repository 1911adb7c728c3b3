package main

import (
	"net"
	"strings"
	"testing"

	"github.com/mxout/mxout/queue/queuetest"
)

func TestRelayReady(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		listeners   int
		serving     int64
		stopping    bool
		closeQueue  bool
		wantErrPart string // "" means ready
	}{
		{name: "ready", listeners: 2, serving: 2},
		{name: "shutting down", listeners: 1, serving: 1, stopping: true, wantErrPart: "shutting down"},
		{name: "a listener stopped serving", listeners: 2, serving: 1, wantErrPart: "1 of 2 submission listeners serving"},
		{name: "queue not writable", listeners: 1, serving: 1, closeQueue: true, wantErrPart: "closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := queuetest.Options(t.TempDir())
			opts.MaxMessageBytes = 1024 // ready asks for room for one of these
			q := queuetest.Open(t, opts)
			r := &relay{q: q, listeners: make([]net.Listener, tt.listeners)}
			r.serving.Store(tt.serving)
			r.stopping.Store(tt.stopping)
			if tt.closeQueue {
				q.Close()
			}
			err := r.ready()
			switch {
			case tt.wantErrPart == "" && err != nil:
				t.Errorf("ready() = %v, want ready", err)
			case tt.wantErrPart != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErrPart)):
				t.Errorf("ready() = %v, want an error with %q", err, tt.wantErrPart)
			}
		})
	}
}
