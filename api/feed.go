package api

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/mxout/mxout/events"
)

// Bounds of a feed request.
const (
	defaultFeedLimit = 100
	maxFeedLimit     = 1000
	maxTypeParams    = 10
)

// feedAnswer is the answer of GET /v1/events. Next is the cursor to send
// as after= next time; an empty Events means the caller has caught up.
type feedAnswer struct {
	Events []*events.Event `json:"events"`
	Next   string          `json:"next"`
}

// feed is GET /v1/events?after=<cursor>&limit=<n>&type=<type>[,<type>]:
// the events of the key's own messages, oldest first, from the oldest
// kept when after is absent.
func (s *Server) feed(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var after uint64
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			writeError(w, badRequest("after", "not a cursor from an earlier answer's next"))
			return
		}
		after = n
	}
	limit := defaultFeedLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxFeedLimit {
			writeError(w, badRequest("limit", "must be a number from 1 to %d", maxFeedLimit))
			return
		}
		limit = n
	}
	types, err := feedTypes(q["type"])
	if err != nil {
		writeError(w, err.(*Error))
		return
	}
	filter := events.Filter{Types: types}
	tag := events.Owner{Kind: events.KindAPI, Name: keyOf(r).Name}.String()
	ans := feedAnswer{Events: []*events.Event{}}
	next := after
scan:
	for {
		recs, err := s.ev.EventsTagged(tag, next, limit)
		if err != nil {
			s.log.Error("api: reading events failed", "err", err)
			writeError(w, &Error{Status: http.StatusInternalServerError, Message: "reading events failed; try again"})
			return
		}
		for _, rec := range recs {
			next = rec.Seq
			ev, err := events.Decode(rec.Data)
			if err != nil {
				s.log.Error("api: skipping an event that does not decode", "seq", rec.Seq, "err", err)
				continue
			}
			if filter.Match(ev) {
				ans.Events = append(ans.Events, ev)
				if len(ans.Events) == limit {
					break scan
				}
			}
		}
		if len(recs) < limit {
			break
		}
	}
	ans.Next = strconv.FormatUint(next, 10)
	writeJSON(w, http.StatusOK, ans)
}

// feedTypes reads the type parameters: repeated, or comma-separated.
func feedTypes(params []string) ([]events.Type, error) {
	if len(params) > maxTypeParams {
		return nil, badRequest("type", "given more than %d times", maxTypeParams)
	}
	var out []events.Type
	for _, p := range params {
		for name := range strings.SplitSeq(p, ",") {
			t, err := events.ParseType(strings.TrimSpace(name))
			if err != nil {
				return nil, badRequest("type", "%v", err)
			}
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	return out, nil
}
