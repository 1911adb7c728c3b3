package tlsrpt

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/mxout/mxout/internal/netguard"
)

// poster sends reports to https: addresses.
type poster struct{ client *http.Client }

func newPoster(dial *netguard.Dialer, roots *x509.CertPool, timeout time.Duration) *poster {
	return &poster{client: &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:                  nil, // directly, as for MTA-STS
			DialContext:            dial.DialContext,
			TLSClientConfig:        &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
			MaxResponseHeaderBytes: 16 << 10,
			DisableKeepAlives:      true,
		},
		// A report goes where the domain's record says, not elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// post sends the gzipped report to u; any 2xx is success (RFC 8460 §5.4).
func (p *poster) post(ctx context.Context, u *url.URL, gz []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(gz))
	if err != nil {
		return fmt.Errorf("post report to %s: %w", u.Redacted(), err)
	}
	req.Header.Set("Content-Type", "application/tlsrpt+gzip")
	req.Header.Set("User-Agent", "mxout")
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("post report: %w", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("post report to %s: HTTP status %s", u.Redacted(), resp.Status)
	}
	return nil
}
