package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"time"

	"github.com/mxout/mxout/admin"
	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/internal/queueconfig"
	"github.com/mxout/mxout/queue"
)

// queueReader is what `queue list|show|stats` read from: the admin API of
// the running daemon, or the queue opened read-only when it is not running.
type queueReader interface {
	Stats(ctx context.Context) (admin.Stats, error)
	List(ctx context.Context, opts queue.ListOptions) (admin.Page, error)
	Show(ctx context.Context, id queue.ID, headers bool) (admin.Message, error)
}

// source is an open queueReader and how it was reached, for the output.
type source struct {
	queueReader
	// Mode is "api" or "read-only".
	Mode string
	// Where is the API address or the data directory.
	Where string
	close func() error
}

// Describe says in a few words which mode was used.
func (s *source) Describe() string {
	if s.Mode == "api" {
		return "via the admin API at " + s.Where
	}
	return "read-only from " + s.Where + ", the daemon is not running"
}

// Close releases a read-only queue.
func (s *source) Close() error {
	if s.close == nil {
		return nil
	}
	return s.close()
}

// openSource reaches the queue: the API if the daemon answers, else (or
// with direct) the data directory opened read-only.
func openSource(ctx context.Context, c *configs.Config, direct bool) (*source, error) {
	if !direct {
		client, _, err := dialAPI(ctx, c)
		if err == nil {
			return &source{queueReader: client, Mode: "api", Where: client.Addr()}, nil
		}
		if !errors.Is(err, admin.ErrUnreachable) {
			return nil, err
		}
	}
	q, err := queue.OpenReadOnly(queueconfig.Options(c, nil))
	if err != nil {
		return nil, explainReadOnly(c, direct, err)
	}
	return &source{queueReader: directReader{q}, Mode: "read-only", Where: c.DataDir, close: q.Close}, nil
}

// dialAPI reaches the running relay's admin API: on its unix socket
// (admin.socket) when this user may open it, which allows everything;
// else on admin.listen, which without admin.token allows reads only.
// socketErr says why the socket was not used (nil if it was, or is not
// configured); err wraps admin.ErrUnreachable when nothing answers.
func dialAPI(ctx context.Context, c *configs.Config) (client *admin.Client, socketErr, err error) {
	if path := c.AdminSocket(); path != "" {
		client = admin.NewSocketClient(path, c.Admin.Token)
		_, err = client.Stats(ctx)
		if err == nil || !errors.Is(err, admin.ErrUnreachable) {
			return client, nil, err
		}
		socketErr = err
	}
	if c.Admin.Listen.IsZero() {
		if socketErr == nil {
			socketErr = errors.New("admin.socket is empty")
		}
		return nil, socketErr, fmt.Errorf("%w: admin.listen is empty and the admin socket did not answer (%v)", admin.ErrUnreachable, socketErr)
	}
	client = admin.NewClient(c.Admin.Listen.String(), c.Admin.Token)
	_, err = client.Stats(ctx)
	return client, socketErr, err
}

// explainReadOnly turns a failed read-only open into advice.
func explainReadOnly(c *configs.Config, direct bool, err error) error {
	switch {
	case errors.Is(err, queue.ErrLocked) && direct:
		return fmt.Errorf("mxout serve has %s open: --direct works only while it is stopped", c.DataDir)
	case errors.Is(err, queue.ErrLocked) && c.Admin.Listen.IsZero() && c.AdminSocket() == "":
		return fmt.Errorf("mxout serve has %s open and admin.listen and admin.socket are empty: enable the admin API to inspect a running queue", c.DataDir)
	case errors.Is(err, queue.ErrLocked):
		return fmt.Errorf("mxout serve has %s open, but its admin API did not answer at %s or %s: check admin.listen and admin.socket in the config you pass with --config", c.DataDir, c.AdminSocket(), c.Admin.Listen)
	case errors.Is(err, queue.ErrNeedsRecovery):
		return fmt.Errorf("the queue in %s was not shut down cleanly (crash or kill): start mxout serve, which recovers it, and ask again", c.DataDir)
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("no queue at %s (data_dir) and no daemon answering at %q (admin.listen)", c.DataDir, c.Admin.Listen)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("the relay's admin API did not answer and %s (data_dir) is not readable by this user: run as root or the user mxout runs as", c.DataDir)
	}
	return err
}

// apiClient is the client for the commands that change the queue: those
// need the running daemon, reached on its socket or with the token.
func apiClient(ctx context.Context, c *configs.Config, verb string) (*apiChanger, error) {
	client, socketErr, err := dialAPI(ctx, c)
	if errors.Is(err, admin.ErrUnreachable) {
		return nil, fmt.Errorf("queue %s needs a running mxout serve: nothing answers at %s (admin.socket) or %s (admin.listen)", verb, c.AdminSocket(), c.Admin.Listen)
	}
	if err != nil {
		return nil, err
	}
	return &apiChanger{Client: client, socketErr: socketErr}, nil
}

// apiChanger is a client for changes; when one is refused for want of
// privilege, it says why the socket was not used.
type apiChanger struct {
	*admin.Client
	socketErr error
}

// explain adds, to a change refused over admin.listen, why the socket
// could not be used.
func (a *apiChanger) explain(err error) error {
	var apiErr *admin.APIError
	if a.socketErr != nil && errors.As(err, &apiErr) && apiErr.Status == http.StatusForbidden {
		return fmt.Errorf("%w (the admin socket: %v)", err, a.socketErr)
	}
	return err
}

// directReader reads a queue opened read-only, in the API's shapes.
type directReader struct{ q *queue.Queue }

func (d directReader) Stats(context.Context) (admin.Stats, error) {
	return admin.NewStats(d.q.Stats(), time.Now()), nil
}

func (d directReader) List(_ context.Context, opts queue.ListOptions) (admin.Page, error) {
	opts.MaxScan = admin.DefaultMaxScan
	p, err := d.q.ListPage(opts)
	if err != nil {
		return admin.Page{}, err
	}
	out := admin.Page{Messages: make([]admin.Message, len(p.Messages)), Next: p.Next}
	for i, m := range p.Messages {
		out.Messages[i] = admin.NewMessage(m, d.q.StateOf(m))
	}
	return out, nil
}

func (d directReader) Show(_ context.Context, id queue.ID, headers bool) (admin.Message, error) {
	m, err := d.q.Get(id)
	if err != nil {
		return admin.Message{}, err
	}
	out := admin.NewMessage(m, d.q.StateOf(m))
	if headers {
		h, err := d.q.Headers(id)
		if err != nil {
			return admin.Message{}, err
		}
		out.Headers = string(h)
	}
	return out, nil
}
