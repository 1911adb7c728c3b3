package sdnotify

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func listen(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func receive(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	buf := make([]byte, 4096)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

func TestNotify(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "notify")
	abstract := fmt.Sprintf("@mxout-sdnotify-test-%d", time.Now().UnixNano())
	tests := []struct {
		name, socket, listenOn string
	}{
		{"path", path, path},
		{"abstract", abstract, "\x00" + strings.TrimPrefix(abstract, "@")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := listen(t, tt.listenOn)
			if err := Notify(tt.socket, "READY=1\nSTATUS=serving"); err != nil {
				t.Fatal(err)
			}
			if got := receive(t, c); got != "READY=1\nSTATUS=serving" {
				t.Errorf("received %q", got)
			}
		})
	}
}

func TestNotify_Errors(t *testing.T) {
	t.Parallel()
	if err := Notify("", "READY=1"); err != nil {
		t.Errorf("no socket: %v, want nil (not under systemd)", err)
	}
	if err := Notify("relative/path", "READY=1"); err == nil {
		t.Error("a relative socket path was accepted")
	}
	if err := Notify(filepath.Join(t.TempDir(), "absent"), "READY=1"); err == nil {
		t.Error("no error for a socket nobody listens on")
	}
}
