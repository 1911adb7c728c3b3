package mtasts

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/mxout/mxout/internal/netguard"
)

// FetchTimeout bounds a whole policy fetch, connect to body (RFC 8461
// §3.3 suggests a minute).
const FetchTimeout = time.Minute

// Errors of a policy fetch. A fetch error wraps one of them, so that a TLS
// report can name the failure (RFC 8460 §4.3).
var (
	// ErrFetch: the policy could not be fetched (DNS, connection, HTTP
	// status, redirect, size, media type, time-out).
	ErrFetch = errors.New("MTA-STS policy fetch failed")
	// ErrWebPKI: the policy host's certificate did not verify.
	ErrWebPKI = errors.New("MTA-STS policy host certificate not valid")
)

// fetcher gets policy files over HTTPS.
type fetcher struct {
	client *http.Client
	port   int
}

func newFetcher(dial *netguard.Dialer, roots *x509.CertPool, timeout time.Duration, port int) *fetcher {
	tr := &http.Transport{
		Proxy:                  nil, // the policy host is reached directly, never through $HTTPS_PROXY
		DialContext:            dial.DialContext,
		TLSClientConfig:        &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    timeout,
		ResponseHeaderTimeout:  timeout,
		MaxResponseHeaderBytes: 16 << 10,
		DisableKeepAlives:      true, // one fetch per domain now and then
		DisableCompression:     true,
	}
	return &fetcher{
		port: port,
		client: &http.Client{
			Transport: tr,
			Timeout:   timeout,
			// RFC 8461 §3.3: redirects MUST NOT be followed.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// fetch gets and parses the policy of domain.
func (f *fetcher) fetch(ctx context.Context, domain string) (*Policy, error) {
	host := "mta-sts." + domain
	if f.port != 443 {
		host = net.JoinHostPort(host, strconv.Itoa(f.port))
	}
	url := "https://" + host + "/.well-known/mta-sts.txt"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFetch, err)
	}
	req.Header.Set("User-Agent", "mxout")
	resp, err := f.client.Do(req)
	if err != nil {
		var cv *tls.CertificateVerificationError
		if errors.As(err, &cv) {
			return nil, fmt.Errorf("%w: %s: %w", ErrWebPKI, url, err)
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrFetch, url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: %s: HTTP status %s (redirects are not followed)", ErrFetch, url, resp.Status)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "text/plain" {
		return nil, fmt.Errorf("%w: %s: media type %q, want text/plain", ErrFetch, url, clip(resp.Header.Get("Content-Type")))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxPolicyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrFetch, url, err)
	}
	if len(body) > MaxPolicyBytes {
		return nil, fmt.Errorf("%w: %s: larger than %d bytes", ErrFetch, url, MaxPolicyBytes)
	}
	p, err := ParsePolicy(body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	return p, nil
}
