package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
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
	if !direct && c.Admin.Listen != "" {
		client := admin.NewClient(c.Admin.Listen, c.Admin.Token)
		_, err := client.Stats(ctx)
		if err == nil {
			return &source{queueReader: client, Mode: "api", Where: c.Admin.Listen}, nil
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

// explainReadOnly turns a failed read-only open into advice.
func explainReadOnly(c *configs.Config, direct bool, err error) error {
	switch {
	case errors.Is(err, queue.ErrLocked) && direct:
		return fmt.Errorf("mxout serve has %s open: --direct works only while it is stopped", c.DataDir)
	case errors.Is(err, queue.ErrLocked) && c.Admin.Listen == "":
		return fmt.Errorf("mxout serve has %s open and admin.listen is empty: enable the admin API to inspect a running queue", c.DataDir)
	case errors.Is(err, queue.ErrLocked):
		return fmt.Errorf("mxout serve has %s open, but its admin API did not answer at %s: check admin.listen in the config you pass with --config", c.DataDir, c.Admin.Listen)
	case errors.Is(err, queue.ErrNeedsRecovery):
		return fmt.Errorf("the queue in %s was not shut down cleanly (crash or kill): start mxout serve, which recovers it, and ask again", c.DataDir)
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("no queue at %s (data_dir) and no daemon answering at %q (admin.listen)", c.DataDir, c.Admin.Listen)
	}
	return err
}

// apiClient is the client for the commands that change the queue: those
// need the running daemon.
func apiClient(ctx context.Context, c *configs.Config, verb string) (*admin.Client, error) {
	if c.Admin.Listen == "" {
		return nil, fmt.Errorf("queue %s needs the admin API of a running mxout serve, and admin.listen is empty", verb)
	}
	client := admin.NewClient(c.Admin.Listen, c.Admin.Token)
	if _, err := client.Stats(ctx); err != nil {
		if errors.Is(err, admin.ErrUnreachable) {
			return nil, fmt.Errorf("queue %s needs a running mxout serve: nothing answers at %s (admin.listen)", verb, c.Admin.Listen)
		}
		return nil, err
	}
	return client, nil
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
