package configs

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
)

// The typed values of the configuration. Each is parsed once, when the
// config is decoded (its UnmarshalText), so a bad value is an error that
// names its key, and the packages take these types instead of strings
// they would parse again. The zero value of each means "not set".

// TLSPolicy is how delivery uses TLS with a destination (delivery.tls and
// delivery.domains.<name>.tls).
type TLSPolicy string

// The TLS policies.
const (
	// TLSOpportunistic uses STARTTLS when offered, with any certificate,
	// and delivers in plaintext otherwise.
	TLSOpportunistic TLSPolicy = "opportunistic"
	// TLSRequired delivers only over TLS with a certificate valid for the
	// MX host name.
	TLSRequired TLSPolicy = "required"
	// TLSDisabled never tries TLS.
	TLSDisabled TLSPolicy = "disabled"
)

// UnmarshalText accepts the policies' names, and "" (not set).
func (p *TLSPolicy) UnmarshalText(b []byte) error {
	return parseEnum(p, string(b), TLSOpportunistic, TLSRequired, TLSDisabled)
}

// TLSMode is how a connection starts TLS: a submission listener's tls,
// delivery.smarthost.tls, and how `mxout sendmail` reaches the relay.
type TLSMode string

// The TLS modes.
const (
	// TLSNone: plaintext only.
	TLSNone TLSMode = "none"
	// TLSStartTLS: plaintext, then STARTTLS (RFC 3207).
	TLSStartTLS TLSMode = "starttls"
	// TLSImplicit: TLS from the first byte (RFC 8314).
	TLSImplicit TLSMode = "implicit"
)

// UnmarshalText accepts the modes' names, and "" (not set).
func (m *TLSMode) UnmarshalText(b []byte) error {
	return parseEnum(m, string(b), TLSNone, TLSStartTLS, TLSImplicit)
}

// IPFamily is which remote addresses delivery uses (delivery.ip_family).
type IPFamily string

// The IP families. The zero IPFamily is IPAny too.
const (
	IPAny IPFamily = "any"
	IPv4  IPFamily = "ipv4"
	IPv6  IPFamily = "ipv6"
)

// UnmarshalText accepts the families' names, and "" (not set).
func (f *IPFamily) UnmarshalText(b []byte) error {
	return parseEnum(f, string(b), IPAny, IPv4, IPv6)
}

// Allows reports whether addr is of the family.
func (f IPFamily) Allows(addr netip.Addr) bool {
	switch f {
	case IPv4:
		return addr.Unmap().Is4()
	case IPv6:
		return !addr.Unmap().Is4()
	}
	return true
}

// LogLevel is the lowest level logged (log.level).
type LogLevel string

// The log levels.
const (
	LogDebug LogLevel = "debug"
	LogInfo  LogLevel = "info"
	LogWarn  LogLevel = "warn"
	LogError LogLevel = "error"
)

// UnmarshalText accepts the levels' names, and "" (not set).
func (l *LogLevel) UnmarshalText(b []byte) error {
	return parseEnum(l, string(b), LogDebug, LogInfo, LogWarn, LogError)
}

// Slog is the level as log/slog has it; info when not set.
func (l LogLevel) Slog() slog.Level {
	switch l {
	case LogDebug:
		return slog.LevelDebug
	case LogWarn:
		return slog.LevelWarn
	case LogError:
		return slog.LevelError
	}
	return slog.LevelInfo
}

// LogFormat is how log lines are written (log.format).
type LogFormat string

// The log formats.
const (
	LogText LogFormat = "text"
	LogJSON LogFormat = "json"
)

// UnmarshalText accepts the formats' names, and "" (not set).
func (f *LogFormat) UnmarshalText(b []byte) error {
	return parseEnum(f, string(b), LogText, LogJSON)
}

// parseEnum sets *dst to s when s is one of allowed or empty.
func parseEnum[T ~string](dst *T, s string, allowed ...T) error {
	for _, a := range allowed {
		if T(s) == a {
			*dst = a
			return nil
		}
	}
	if s == "" {
		*dst = ""
		return nil
	}
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = string(a)
	}
	return fmt.Errorf("%q must be one of %s", s, strings.Join(names, ", "))
}

// HostPort is a TCP address as host:port: the host a name, an IP address
// (IPv6 in brackets) or, for a listener, empty for every interface. The
// zero HostPort is not set; so the port 0 (any free port) needs a host.
type HostPort struct {
	Host string
	Port uint16
}

// ParseHostPort parses "host:port"; "" is the zero HostPort.
func ParseHostPort(s string) (HostPort, error) {
	if s == "" {
		return HostPort{}, nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return HostPort{}, fmt.Errorf("%q is not host:port", s)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return HostPort{}, fmt.Errorf("%q is not host:port (the port is a number up to 65535)", s)
	}
	hp := HostPort{Host: host, Port: uint16(n)}
	if hp.IsZero() {
		return HostPort{}, fmt.Errorf("%q is not host:port (port 0, any free port, needs a host)", s)
	}
	if strings.ContainsAny(host, " \t\r\n/") {
		return HostPort{}, fmt.Errorf("%q is not host:port (the host is a name or an IP address)", s)
	}
	return hp, nil
}

// IsZero reports whether the address is not set.
func (h HostPort) IsZero() bool { return h == HostPort{} }

// String is host:port, or "" when not set.
func (h HostPort) String() string {
	if h.IsZero() {
		return ""
	}
	return net.JoinHostPort(h.Host, strconv.Itoa(int(h.Port)))
}

// IsLoopback reports whether the address can only be reached from this
// host: "localhost" or a loopback IP address (an empty host means every
// interface).
func (h HostPort) IsLoopback() bool {
	if h.Host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(h.Host)
	return err == nil && a.IsLoopback()
}

// UnmarshalText parses host:port (ParseHostPort).
func (h *HostPort) UnmarshalText(b []byte) error {
	v, err := ParseHostPort(string(b))
	if err != nil {
		return err
	}
	*h = v
	return nil
}

// MarshalText prints host:port.
func (h HostPort) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText parses a rate (ParseRate).
func (r *Rate) UnmarshalText(b []byte) error {
	v, err := ParseRate(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// MarshalText prints the rate as it is written: 10/s, 600/m; "" when
// unlimited.
func (r Rate) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// parsePrefix parses a network as CIDR, or a single address as its /32
// or /128.
func parsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if p, err := netip.ParsePrefix(s); err == nil {
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR or an IP address", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// prefixHook decodes networks written as CIDR or as a single address;
// netip.Prefix's own UnmarshalText takes only CIDR.
func prefixHook(from, to reflect.Type, data any) (any, error) {
	if to != reflect.TypeOf(netip.Prefix{}) || from.Kind() != reflect.String {
		return data, nil
	}
	return parsePrefix(data.(string))
}
