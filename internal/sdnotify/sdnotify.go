// Package sdnotify sends a service's state to systemd (sd_notify(3)): a
// datagram such as "READY=1" to the unix socket named by $NOTIFY_SOCKET.
// With it, a Type=notify unit counts as started only once the service
// really serves, and systemd knows when it is stopping. Without cgo or
// libsystemd; outside systemd it does nothing.
package sdnotify

import (
	"fmt"
	"net"
	"strings"
)

// Notify sends state, one or more "KEY=value" lines, to the socket at
// socket (the value of $NOTIFY_SOCKET; a leading '@' names an abstract
// socket). An empty socket does nothing: the process is not run by
// systemd, or the unit is not Type=notify.
func Notify(socket, state string) error {
	if socket == "" {
		return nil
	}
	if !strings.HasPrefix(socket, "/") && !strings.HasPrefix(socket, "@") {
		return fmt.Errorf("sd_notify: NOTIFY_SOCKET %q is neither a path nor an abstract socket", socket)
	}
	addr := &net.UnixAddr{Name: socket, Net: "unixgram"}
	if socket[0] == '@' {
		addr.Name = "\x00" + socket[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, addr)
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify %s: %w", strings.ReplaceAll(state, "\n", " "), err)
	}
	return nil
}
