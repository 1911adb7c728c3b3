package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"

	"github.com/mxout/mxout/admin"
	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/internal/unixsock"
)

// adminListeners are the admin API's sockets: admin.listen over TCP (reads
// only without admin.token) and the unix socket admin.socket (everything,
// for whoever may open it). Either may be nil.
type adminListeners struct {
	tcp, unix net.Listener
}

// listenAdmin binds the admin API's sockets.
func listenAdmin(c *configs.Config) (adminListeners, error) {
	var ls adminListeners
	if !c.Admin.Listen.IsZero() {
		ln, err := net.Listen("tcp", c.Admin.Listen.String())
		if err != nil {
			return ls, fmt.Errorf("admin.listen: listen on %s: %w", c.Admin.Listen, err)
		}
		if c.Admin.Token == "" && !admin.IsLoopback(ln.Addr()) {
			ln.Close()
			return ls, fmt.Errorf("admin.listen: %s is not a loopback address; set admin.token", ln.Addr())
		}
		ls.tcp = ln
	}
	if path := c.AdminSocket(); path != "" {
		ln, err := listenUnix(path)
		if err != nil {
			ls.close()
			return adminListeners{}, fmt.Errorf("admin.socket: %w", err)
		}
		ls.unix = ln
	}
	return ls, nil
}

func (ls adminListeners) close() {
	for _, l := range []net.Listener{ls.tcp, ls.unix} {
		if l != nil {
			l.Close()
		}
	}
}

// listenUnix binds a unix socket at path with mode 0600, so that only the
// user mxout runs as (and root) can connect. A socket left there by a
// relay that was killed is replaced; one that answers is another relay's.
func listenUnix(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return nil, fmt.Errorf("%s exists and is not a socket", path)
		}
		if c, err := unixsock.Dial(context.Background(), path); err == nil {
			c.Close()
			return nil, fmt.Errorf("%s is in use by another process", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove the stale socket %s: %w", path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	// The socket is created with the umask's mode: make it 0600 from the
	// start, rather than chmod it after others could have connected.
	// Nothing else creates files while the relay starts its listeners.
	old := syscall.Umask(0o177)
	ln, err := unixsock.Listen(path)
	syscall.Umask(old)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}
