package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Resolver finds the addresses of a host; mxout's resolver satisfies it.
type Resolver interface {
	LookupAddrs(ctx context.Context, host string) ([]netip.Addr, error)
}

// Dialer connects to a host name through mxout's own resolver (never the
// system's) and only to the addresses its Guard permits. It is meant for
// an http.Transport's DialContext, for fetches whose host name comes from
// a recipient domain (an MTA-STS policy, a TLS report's https rua).
type Dialer struct {
	Resolver Resolver
	Guard    Guard
	// Timeout bounds each connect; zero means 30 seconds.
	Timeout time.Duration
}

// ErrNoAddress means the host has addresses, but the Guard refuses all.
var ErrNoAddress = errors.New("no permitted address")

// DialContext resolves the host of address ("host:port") and connects to
// its permitted addresses in turn until one answers. An IP literal is
// checked by the Guard like a resolved address.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", address, err)
	}
	addrs, err := d.addrs(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", address, err)
	}
	var refused error
	var usable []netip.Addr
	for _, a := range addrs {
		if err := d.Guard.Check(a); err != nil {
			refused = err
			continue
		}
		usable = append(usable, a)
	}
	if len(usable) == 0 {
		return nil, fmt.Errorf("dial %s: %w: %w", address, ErrNoAddress, refused)
	}
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	nd := net.Dialer{Timeout: timeout}
	var lastErr error
	for _, a := range usable {
		conn, err := nd.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
		if err == nil {
			return conn, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("dial %s: %w", address, lastErr)
}

func (d *Dialer) addrs(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return []netip.Addr{a}, nil
	}
	if d.Resolver == nil {
		return nil, errors.New("no resolver")
	}
	return d.Resolver.LookupAddrs(ctx, host)
}
