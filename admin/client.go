package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/mxout/mxout/internal/unixsock"
	"github.com/mxout/mxout/queue"
)

// ErrUnreachable means nothing answered at the API address: the daemon is
// not running, or admin.listen differs.
var ErrUnreachable = errors.New("admin API unreachable")

// APIError is an error answer from the API.
type APIError struct {
	// Status is the HTTP status: 404 no such message, 409 being
	// delivered or quarantined, 401 bad token, 403 a change without the
	// socket or token, 501 not available in this build.
	Status  int
	Message string
}

func (e *APIError) Error() string { return e.Message }

// Client calls the API. Its methods are safe for concurrent use.
type Client struct {
	base  string
	addr  string
	token string
	http  *http.Client
}

// clientTimeout bounds a request: a flush of a large queue is slow.
const clientTimeout = 15 * time.Minute

// NewClient returns a client for the API at addr (host:port), sending
// token as a bearer token when it is not empty. A listener on every
// interface (":8025", "0.0.0.0:8025") is reached on loopback.
func NewClient(addr, token string) *Client {
	dial := addr
	if host, port, err := net.SplitHostPort(addr); err == nil {
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			loop := "127.0.0.1"
			if ip != nil && ip.To4() == nil {
				loop = "::1"
			}
			dial = net.JoinHostPort(loop, port)
		}
	}
	return &Client{
		base: "http://" + dial, addr: addr, token: token,
		http: &http.Client{Timeout: clientTimeout},
	}
}

// NewSocketClient returns a client for the API on the unix socket at
// path (admin.socket), sending token as a bearer token when it is not
// empty (the socket does not need it).
func NewSocketClient(path, token string) *Client {
	return &Client{
		base: "http://localhost", addr: path, token: token,
		http: &http.Client{Timeout: clientTimeout, Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return unixsock.Dial(ctx, path)
			},
		}},
	}
}

// Addr is the API address (host:port, or the socket's path) the client
// talks to.
func (c *Client) Addr() string { return c.addr }

// Stats returns the queue's counts.
func (c *Client) Stats(ctx context.Context) (Stats, error) {
	var s Stats
	return s, c.do(ctx, http.MethodGet, "/v1/stats", nil, &s)
}

// List returns one page of messages matching opts (MaxScan is the
// server's); follow Page.Next until it is empty.
func (c *Client) List(ctx context.Context, opts queue.ListOptions) (Page, error) {
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	set("state", opts.State)
	set("sender", opts.Sender)
	set("domain", opts.Domain)
	set("after", string(opts.After))
	if opts.Limit > 0 {
		v.Set("limit", strconv.Itoa(opts.Limit))
	}
	if opts.OlderThan > 0 {
		v.Set("older_than", opts.OlderThan.String())
	}
	var p Page
	return p, c.do(ctx, http.MethodGet, "/v1/messages", v, &p)
}

// Show returns one message, with its header section if headers is set.
func (c *Client) Show(ctx context.Context, id queue.ID, headers bool) (Message, error) {
	var v url.Values
	if headers {
		v = url.Values{"headers": {"true"}}
	}
	var m Message
	return m, c.do(ctx, http.MethodGet, "/v1/messages/"+url.PathEscape(string(id)), v, &m)
}

// Hold stops delivery of a message until Release.
func (c *Client) Hold(ctx context.Context, id queue.ID) (Done, error) {
	return c.action(ctx, http.MethodPost, id, "/hold", nil)
}

// Release makes a held message deliverable again.
func (c *Client) Release(ctx context.Context, id queue.ID) (Done, error) {
	return c.action(ctx, http.MethodPost, id, "/release", nil)
}

// Retry makes every pending recipient of a message due now.
func (c *Client) Retry(ctx context.Context, id queue.ID) (Done, error) {
	return c.action(ctx, http.MethodPost, id, "/retry", nil)
}

// Delete removes a message; with bounce, the sender gets a failure report.
func (c *Client) Delete(ctx context.Context, id queue.ID, bounce bool) (Done, error) {
	var v url.Values
	if bounce {
		v = url.Values{"bounce": {"true"}}
	}
	return c.action(ctx, http.MethodDelete, id, "", v)
}

// Flush makes every deferred message due now.
func (c *Client) Flush(ctx context.Context) (Flushed, error) {
	var f Flushed
	return f, c.do(ctx, http.MethodPost, "/v1/flush", nil, &f)
}

func (c *Client) action(ctx context.Context, method string, id queue.ID, suffix string, v url.Values) (Done, error) {
	var d Done
	return d, c.do(ctx, method, "/v1/messages/"+url.PathEscape(string(id))+suffix, v, &d)
}

// do sends one request and decodes the JSON answer into out.
func (c *Client) do(ctx context.Context, method, path string, v url.Values, out any) error {
	u := c.base + path
	if len(v) > 0 {
		u += "?" + v.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return fmt.Errorf("admin request: %w", err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%w at %s: %w", ErrUnreachable, c.addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("admin API at %s: read answer: %w", c.addr, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e apiError
		if json.Unmarshal(body, &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("%s (is %s the mxout admin API?)", resp.Status, c.addr)
		}
		return &APIError{Status: resp.StatusCode, Message: e.Error}
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("admin API at %s: decode answer: %w", c.addr, err)
	}
	return nil
}
