package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/mxout/mxout/queue"
)

// states are the values of the state filter.
var states = map[string]bool{"ready": true, "deferred": true, "inflight": true, "held": true, "quarantined": true}

func (s *Server) stats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, NewStats(s.q.Stats(), s.cfg.Now()))
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	opts, err := listOptions(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	opts.MaxScan = s.cfg.MaxScan
	p, err := s.q.ListPage(opts)
	if err != nil {
		s.fail(w, err)
		return
	}
	out := Page{Messages: make([]Message, len(p.Messages)), Next: p.Next}
	for i, m := range p.Messages {
		out.Messages[i] = NewMessage(m, s.q.StateOf(m))
	}
	writeJSON(w, http.StatusOK, out)
}

// listOptions reads the filters of a listing from the query string.
func listOptions(r *http.Request) (queue.ListOptions, error) {
	v := r.URL.Query()
	opts := queue.ListOptions{State: v.Get("state"), Sender: v.Get("sender"), Domain: v.Get("domain"), Limit: 100}
	if opts.State != "" && !states[opts.State] {
		return opts, fmt.Errorf("state %q: want ready, deferred, inflight, held or quarantined", opts.State)
	}
	if a := v.Get("after"); a != "" {
		id, err := queue.ParseID(a)
		if err != nil {
			return opts, fmt.Errorf("after: %w", err)
		}
		opts.After = id
	}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxLimit {
			return opts, fmt.Errorf("limit %q: want 1 to %d", l, maxLimit)
		}
		opts.Limit = n
	}
	if o := v.Get("older_than"); o != "" {
		d, err := time.ParseDuration(o)
		if err != nil || d <= 0 {
			return opts, fmt.Errorf("older_than %q: want a positive duration such as 2h", o)
		}
		opts.OlderThan = d
	}
	return opts, nil
}

func (s *Server) show(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	m, err := s.q.Get(id)
	if err != nil {
		s.fail(w, err)
		return
	}
	out := NewMessage(m, s.q.StateOf(m))
	if b, _ := strconv.ParseBool(r.URL.Query().Get("headers")); b && !s.privileged(r) {
		// Headers carry subjects and more: for the privileged only, as
		// Postfix's postcat is.
		out.HeadersWithheld = true
	} else if b {
		h, err := s.q.Headers(id)
		if err != nil {
			s.fail(w, err)
			return
		}
		out.Headers = string(h)
	}
	writeJSON(w, http.StatusOK, out)
}

// change answers a one-message operator action done by fn.
func (s *Server) change(action string, fn func(queue.ID) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, ok := pathID(w, r)
		if !ok {
			return
		}
		if err := fn(id); err != nil {
			s.fail(w, err)
			return
		}
		s.log.Info("queue: operator action", "queue_id", string(id), "action", action, "remote", r.RemoteAddr)
		writeJSON(w, http.StatusOK, Done{ID: id, Action: action})
	}
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	if b, _ := strconv.ParseBool(r.URL.Query().Get("bounce")); b {
		s.bounceAndDelete(w, r, id)
		return
	}
	s.change("deleted", s.q.Delete)(w, r)
}

// bounceAndDelete holds the message so that no delivery starts while the
// report is made, queues the report, then deletes. If the report cannot be
// queued, the message is kept (and released again if it was not held).
func (s *Server) bounceAndDelete(w http.ResponseWriter, r *http.Request, id queue.ID) {
	if s.cfg.Bouncer == nil {
		writeError(w, http.StatusNotImplemented, errors.New("bounces not available in this build; delete without --bounce, or upgrade"))
		return
	}
	m, err := s.q.Get(id)
	if err != nil {
		s.fail(w, err)
		return
	}
	wasHeld := m.Held
	if err := s.q.Hold(id); err != nil {
		s.fail(w, err)
		return
	}
	restore := func() {
		if !wasHeld {
			if err := s.q.Release(id); err != nil {
				s.log.Error("admin: could not release after a failed bounce", "queue_id", string(id), "err", err)
			}
		}
	}
	if m, err = s.q.Get(id); err != nil {
		restore()
		s.fail(w, err)
		return
	}
	body, err := s.q.Body(id)
	if err == nil {
		err = s.cfg.Bouncer.BounceDeleted(r.Context(), m, body)
	}
	if err != nil {
		restore()
		s.log.Error("admin: bounce failed; message kept", "queue_id", string(id), "err", err)
		writeError(w, http.StatusInternalServerError, fmt.Errorf("bounce of %s failed, message kept: %w", id, err))
		return
	}
	if err := s.q.Delete(id); err != nil {
		s.fail(w, err)
		return
	}
	s.log.Info("queue: operator action", "queue_id", string(id), "action", "bounced", "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, Done{ID: id, Action: "bounced"})
}

func (s *Server) flush(w http.ResponseWriter, r *http.Request) {
	revived := 0
	if s.cfg.Destinations != nil {
		revived = s.cfg.Destinations.ReviveDestinations()
	}
	n, err := s.q.Flush()
	if err != nil {
		s.fail(w, err)
		return
	}
	s.log.Info("queue: operator flush", "messages", n, "destinations_revived", revived, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, Flushed{Messages: n, DestinationsRevived: revived})
}

// pathID reads and checks the {id} of the path, answering 400 if bad.
func pathID(w http.ResponseWriter, r *http.Request) (queue.ID, bool) {
	id, err := queue.ParseID(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return "", false
	}
	return id, true
}

// fail maps a queue error to a status code.
func (s *Server) fail(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, queue.ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, queue.ErrLeased), errors.Is(err, queue.ErrQuarantined), errors.Is(err, queue.ErrUnreadable):
		code = http.StatusConflict
	case errors.Is(err, queue.ErrClosed), errors.Is(err, queue.ErrNoSpace):
		code = http.StatusServiceUnavailable
	default:
		s.log.Error("admin: request failed", "err", err)
	}
	writeError(w, code, err)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away; nothing to do
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, apiError{Error: err.Error()})
}
