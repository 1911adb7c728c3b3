package webhook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/mxout/mxout/events"
	"github.com/mxout/mxout/queue"
)

// Log is what the sender needs from the queue's event log.
type Log interface {
	// Events returns up to max records numbered above after, oldest first.
	Events(after uint64, max int) ([]queue.EventRecord, error)
	// EventsChanged is closed at the next append.
	EventsChanged() <-chan struct{}
	// LastEventSeq is the newest record's number.
	LastEventSeq() (uint64, error)
	// EventCursor and SetEventCursor keep each endpoint's position.
	EventCursor(name string) (uint64, bool, error)
	SetEventCursor(name string, seq uint64) error
}

// Observer is told about every POST; result is one of the Result values.
type Observer interface {
	Posted(endpoint, result string)
}

// Results of a POST, the values of Observer.Posted's result.
const (
	ResultOK      = "ok"      // 2xx: the batch is acknowledged
	ResultStatus  = "status"  // another status
	ResultTimeout = "timeout" // no answer within Config.Timeout
	ResultError   = "error"   // no connection, or a broken one
)

// Endpoint is one receiver.
type Endpoint struct {
	// Name, when set, is the endpoint's label; configs checked it is a
	// short token, unique among the endpoints.
	Name   string
	URL    string
	Secret string
	// Filter selects the events sent; the others are skipped.
	Filter events.Filter
}

// Config configures a Sender. cmd/mxout fills it from configs.Webhooks
// and events.retention.
type Config struct {
	Endpoints []Endpoint
	// BatchSize is the most events in one POST.
	BatchSize int
	// Timeout bounds one POST, from connecting to the end of the answer.
	Timeout time.Duration
	// RetryInitial is the wait after a failed POST; it doubles after each
	// further failure, up to RetryMax.
	RetryInitial, RetryMax time.Duration
	// Retention is how long events are kept: older ones are dropped
	// instead of being tried again. 0 keeps trying.
	Retention time.Duration
	// Client posts; nil builds one with Timeout that follows no redirect.
	Client *http.Client
	// UserAgent is sent with every POST.
	UserAgent string
	// Observer, when not nil, is told about every POST.
	Observer Observer
	Logger   *slog.Logger
	// Now is the clock of signatures and retention; nil means time.Now.
	Now func() time.Time
}

// Sender posts events to every endpoint. Build it with New, run it with Run.
type Sender struct {
	cfg Config
	log Log
	eps []*endpoint
}

// Status is an endpoint's backlog, for the metrics.
type Status struct {
	// Endpoint is the endpoint's Label.
	Endpoint string
	// Backlog counts the events written after the endpoint's acknowledged
	// position, including those its filter will skip.
	Backlog int64
	// Oldest is the time of the oldest event posted but not yet
	// acknowledged; zero when the endpoint is caught up.
	Oldest time.Time
}

// New checks cfg and gives every endpoint its position: the one it
// acknowledged last, or, for an endpoint never seen before, the end of the
// log, stored at once so that events written from now on reach it even
// after a crash. Call it before delivery starts writing events.
func New(cfg Config, log Log) (*Sender, error) {
	switch {
	case cfg.BatchSize <= 0:
		return nil, errors.New("webhook: batch size must be positive")
	case cfg.Timeout <= 0 || cfg.RetryInitial <= 0 || cfg.RetryMax < cfg.RetryInitial:
		return nil, errors.New("webhook: timeout and retry intervals must be positive, the maximum at least the initial")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Client == nil {
		cfg.Client = newClient(cfg.Timeout)
	}
	s := &Sender{cfg: cfg, log: log}
	for _, ep := range cfg.Endpoints {
		e, err := s.newEndpoint(ep)
		if err != nil {
			return nil, err
		}
		s.eps = append(s.eps, e)
	}
	return s, nil
}

func (s *Sender) newEndpoint(ep Endpoint) (*endpoint, error) {
	u, err := url.Parse(ep.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("webhook: want an http or https URL with a host")
	}
	e := &endpoint{s: s, ep: ep, label: ep.Label(), cursorName: cursorName(ep.URL)}
	for _, other := range s.eps {
		if other.label == e.label {
			return nil, fmt.Errorf("webhook %s: two endpoints have this label; give them names", e.label)
		}
	}
	pos, ok, err := s.log.EventCursor(e.cursorName)
	if err != nil {
		return nil, fmt.Errorf("webhook %s: %w", e.label, err)
	}
	if !ok {
		if pos, err = s.log.LastEventSeq(); err != nil {
			return nil, fmt.Errorf("webhook %s: %w", e.label, err)
		}
		if err := s.log.SetEventCursor(e.cursorName, pos); err != nil {
			return nil, fmt.Errorf("webhook %s: %w", e.label, err)
		}
		s.cfg.Logger.Info("webhook: new endpoint starts with the next event", "endpoint", e.label, "position", pos)
	}
	e.pos = pos
	return e, nil
}

// cursorName is where the queue keeps the position of the endpoint at
// rawURL. It depends on the URL alone (not on Name), so that renaming an
// endpoint, or upgrading, neither resends nor skips events.
func cursorName(rawURL string) string {
	sum := sha256.Sum256([]byte(rawURL))
	return "webhook:" + hex.EncodeToString(sum[:16])
}

// Label is how logs and metrics name the endpoint. Receivers often take a
// token in the URL (in the path, Slack-style, or the query), so the label
// never shows more than the scheme, host and port: it is Name when set;
// else scheme://host[:port] when that is the whole URL; else that,
// "/...#" and the first 8 hex digits of the URL's SHA-256 (the start of
// its cursor name), which keeps two endpoints on one host apart.
func (ep Endpoint) Label() string {
	if ep.Name != "" {
		return ep.Name
	}
	u, err := url.Parse(ep.URL)
	if err != nil || u.Host == "" {
		return "(bad URL)"
	}
	origin := u.Scheme + "://" + u.Host
	if origin == ep.URL {
		return origin
	}
	sum := sha256.Sum256([]byte(ep.URL))
	return origin + "/...#" + hex.EncodeToString(sum[:4])
}

// Run posts events until ctx ends, each endpoint on its own goroutine,
// and returns when they have all stopped. A batch in flight when ctx ends
// is not acknowledged and is sent again after a restart.
func (s *Sender) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, e := range s.eps {
		wg.Go(func() { e.run(ctx) })
	}
	wg.Wait()
}

// Status reports every endpoint's backlog, in configuration order.
func (s *Sender) Status() []Status {
	last, _ := s.log.LastEventSeq() // on error 0: no backlog shown rather than a wrong one
	out := make([]Status, len(s.eps))
	for i, e := range s.eps {
		pos, oldest := e.state()
		out[i] = Status{Endpoint: e.label, Oldest: oldest}
		if last > pos {
			out[i].Backlog = int64(last - pos)
		}
	}
	return out
}

// newClient posts without following redirects (a 3xx is a failure, as
// the URL is the operator's) and without a proxy from the environment.
func newClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			DialContext:           (&net.Dialer{Timeout: timeout}).DialContext,
			TLSHandshakeTimeout:   timeout,
			ResponseHeaderTimeout: timeout,
			MaxIdleConnsPerHost:   2,
			IdleConnTimeout:       90 * time.Second,
			ForceAttemptHTTP2:     true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
