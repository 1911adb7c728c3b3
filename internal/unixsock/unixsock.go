// Package unixsock binds and dials unix sockets at paths of any length.
// A socket address holds at most 107 bytes of path (sun_path); a longer
// one, such as an admin socket inside a deep data directory, is reached
// through the directory opened as a file: /proc/self/fd/N/name resolves
// to the same socket (Linux).
package unixsock

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
)

// MaxPath is the longest path a socket address holds.
const MaxPath = 107

// Listen binds a unix socket at path. The socket is removed when the
// listener is closed.
func Listen(path string) (net.Listener, error) {
	if len(path) <= MaxPath {
		return net.Listen("unix", path)
	}
	dir, alias, err := shorten(path)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("unix", alias)
	if err != nil {
		dir.Close()
		return nil, err
	}
	return &longListener{Listener: l, dir: dir, path: path}, nil
}

// Dial connects to the unix socket at path.
func Dial(ctx context.Context, path string) (net.Conn, error) {
	var d net.Dialer
	if len(path) <= MaxPath {
		return d.DialContext(ctx, "unix", path)
	}
	dir, alias, err := shorten(path)
	if err != nil {
		return nil, err
	}
	defer dir.Close() // the connection does not need it once made
	return d.DialContext(ctx, "unix", alias)
}

// shorten opens path's directory and returns the short alias of path
// through it; the directory must stay open while the alias is used.
func shorten(path string) (*os.File, string, error) {
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return nil, "", fmt.Errorf("socket %s: %w", path, err)
	}
	alias := fmt.Sprintf("/proc/self/fd/%d/%s", dir.Fd(), filepath.Base(path))
	if len(alias) > MaxPath {
		dir.Close()
		return nil, "", fmt.Errorf("socket %s: its name is too long", path)
	}
	return dir, alias, nil
}

// longListener keeps the directory of its alias open until it is closed
// (closing the listener removes the socket through the alias).
type longListener struct {
	net.Listener
	dir  *os.File
	path string
}

func (l *longListener) Close() error {
	err := l.Listener.Close()
	l.dir.Close()
	return err
}

// Addr names the socket by its real path.
func (l *longListener) Addr() net.Addr { return &net.UnixAddr{Name: l.path, Net: "unix"} }
