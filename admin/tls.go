package admin

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mxout/mxout/mtasts"
)

// MTASTSCache is the relay's cache of MTA-STS policies (mtasts.Cache).
type MTASTSCache interface {
	Cached(domain string) (mtasts.Result, bool)
}

// MTASTSPolicy is a cached MTA-STS policy, as `mxout tls check` reads it.
type MTASTSPolicy struct {
	Domain  string    `json:"domain"`
	ID      string    `json:"id"`
	Fetched time.Time `json:"fetched"`
	// Policy is the policy file, in its canonical form.
	Policy string `json:"policy"`
}

// mtastsPolicy answers GET /v1/tls/mta-sts/{domain}: the policy the
// relay has cached for domain, 404 without one, 501 when MTA-STS is off.
func (s *Server) mtastsPolicy(w http.ResponseWriter, r *http.Request) {
	if s.cfg.MTASTS == nil {
		writeError(w, http.StatusNotImplemented, errors.New("MTA-STS is off (delivery.mta_sts)"))
		return
	}
	domain := strings.ToLower(r.PathValue("domain"))
	res, ok := s.cfg.MTASTS.Cached(domain)
	if !ok {
		writeError(w, http.StatusNotFound, errors.New("no MTA-STS policy cached for "+domain))
		return
	}
	writeJSON(w, http.StatusOK, MTASTSPolicy{Domain: domain, ID: res.ID, Fetched: res.Fetched, Policy: res.Policy.String()})
}

// MTASTSPolicy returns the relay's cached MTA-STS policy of domain; found
// is false when it has none (or MTA-STS is off).
func (c *Client) MTASTSPolicy(ctx context.Context, domain string) (p MTASTSPolicy, found bool, err error) {
	err = c.do(ctx, http.MethodGet, "/v1/tls/mta-sts/"+url.PathEscape(domain), nil, &p)
	var apiErr *APIError
	if errors.As(err, &apiErr) && (apiErr.Status == http.StatusNotFound || apiErr.Status == http.StatusNotImplemented) {
		return MTASTSPolicy{}, false, nil
	}
	return p, err == nil, err
}
