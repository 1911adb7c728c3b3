package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Who may do what. The API must not obey a web page that a browser on
// this host shows (a form POSTed to 127.0.0.1:8025, or a script on a
// name that DNS rebinding points at 127.0.0.1), and a local user without
// privileges may read the queue, as Postfix's mailq lets anyone, but not
// change it, as only root may run postsuper. So, in this order:
//
//   - a Host that is not the address the request came in on, localhost or
//     one of Config.Names is refused with 421 Misdirected Request (a DNS
//     rebinding page sends its own name);
//   - a request with an Origin header, or a Sec-Fetch-Site other than
//     "none", comes from a browser and is refused with 403;
//   - a POST or DELETE with a body must say Content-Type: application/json
//     (a form cannot), else 415;
//   - with a token configured, every request needs it (401), on the
//     socket too, and may then do everything;
//   - without one, the unix socket (its mode and directory keep others
//     out) allows everything, and TCP only reads (403 otherwise), with a
//     message's headers withheld.

// socketConn marks, in a request's context, a connection that came in on
// the unix socket.
type socketConn struct{}

// connContext tags connections from a unix listener.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if c.LocalAddr().Network() == "unix" {
		return context.WithValue(ctx, socketConn{}, true)
	}
	return ctx
}

// viaSocket reports whether r came in on the unix socket.
func viaSocket(r *http.Request) bool {
	v, _ := r.Context().Value(socketConn{}).(bool)
	return v
}

// privileged reports whether r may change the queue and read headers:
// it came in on the socket, or it carries the configured token (the
// guard has checked it before this is asked).
func (s *Server) privileged(r *http.Request) bool {
	return viaSocket(r) || s.cfg.Token != ""
}

// guard applies the rules above before next.
func (s *Server) guard(next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(s.cfg.Token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.hostAllowed(r) {
			s.refuse(w, r, http.StatusMisdirectedRequest, fmt.Errorf("host %q is not this API's address: use %s, localhost or the relay's hostname", r.Host, localAddr(r)))
			return
		}
		if r.Header.Get("Origin") != "" || (r.Header.Get("Sec-Fetch-Site") != "" && r.Header.Get("Sec-Fetch-Site") != "none") {
			s.refuse(w, r, http.StatusForbidden, errors.New("requests from web pages are refused"))
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && r.ContentLength != 0 && !isJSON(r.Header.Get("Content-Type")) {
			s.refuse(w, r, http.StatusUnsupportedMediaType, errors.New("a request body must be Content-Type: application/json"))
			return
		}
		if s.cfg.Token != "" {
			// Both sides are hashed first, so the comparison takes the
			// same time whatever the length of the guess.
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			sum := sha256.Sum256([]byte(got))
			if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="mxout admin"`)
				s.refuse(w, r, http.StatusUnauthorized, errors.New("missing or wrong bearer token (admin.token)"))
				return
			}
		} else if !viaSocket(r) && r.Method != http.MethodGet && r.Method != http.MethodHead {
			s.refuse(w, r, http.StatusForbidden, errors.New("changing the queue needs the admin socket (admin.socket; mxout queue uses it as root or the user mxout runs as) or admin.token"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// refuse answers a request the guard turned away, and logs it.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, code int, err error) {
	s.log.Warn("admin: request refused", "status", code, "method", r.Method, "path", r.URL.Path,
		"host", r.Host, "origin", r.Header.Get("Origin"), "remote", r.RemoteAddr, "reason", err)
	writeError(w, code, err)
}

// hostAllowed reports whether the Host of r names this API: localhost,
// one of Config.Names, or the IP address the request came in on (an IP
// cannot be rebound to another host; a wildcard listener is reached at a
// concrete one). The port is not compared.
func (s *Server) hostAllowed(r *http.Request) bool {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if host == "" {
		return false
	}
	if host == "localhost" {
		return true
	}
	for _, n := range s.cfg.Names {
		if strings.EqualFold(strings.TrimSuffix(n, "."), host) {
			return true
		}
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return false
	}
	ap, err := netip.ParseAddrPort(local.String())
	return err == nil && ap.Addr().Unmap() == ip.Unmap()
}

// localAddr names the address a request came in on, for error messages.
func localAddr(r *http.Request) string {
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		return a.String()
	}
	return "this API's address"
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}
