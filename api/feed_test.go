package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/mxout/mxout/events"
	"github.com/mxout/mxout/queue"
)

func appendFeedEvents(t *testing.T, q *queue.Queue, owner events.Owner, types ...events.Type) []string {
	t.Helper()
	var recs []queue.EventRecord
	var ids []string
	for i, ty := range types {
		id := fmt.Sprintf("%s-%s-%d-%d", owner, ty, i, time.Now().UnixNano())
		data, err := events.Encode(&events.Event{ID: id, Type: ty, Time: time.Now(), Recipient: "r@example.net", Owner: owner})
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, queue.EventRecord{Time: time.Now(), Tag: owner.String(), Data: data})
		ids = append(ids, id)
	}
	if err := q.AppendEvents(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	return ids
}

type feedPage struct {
	Events []map[string]any `json:"events"`
	Next   string           `json:"next"`
}

func (ta *testAPI) feedPage(t *testing.T, token, query string) feedPage {
	t.Helper()
	ans := ta.do(t, http.MethodGet, "/v1/events"+query, token, nil)
	if ans.status != 200 {
		t.Fatalf("GET /v1/events%s: %d %s", query, ans.status, ans.body)
	}
	var p feedPage
	if err := json.Unmarshal(ans.body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Events == nil {
		t.Fatalf("events is %s, want a list", ans.body)
	}
	return p
}

func pageIDs(p feedPage) []string {
	var out []string
	for _, e := range p.Events {
		out = append(out, e["id"].(string))
	}
	return out
}

// A key pages through its own messages' events only, from the oldest
// kept; an empty page means caught up, and new events follow its next.
func TestFeed_OwnEventsInPages(t *testing.T) {
	t.Parallel()
	ta := newTestAPI(t, nil)
	mine := events.Owner{Kind: events.KindAPI, Name: "billing"}
	want := appendFeedEvents(t, ta.q, mine, events.Deferred, events.Delivered)
	appendFeedEvents(t, ta.q, events.Owner{Kind: events.KindAPI, Name: "other"}, events.Delivered)
	appendFeedEvents(t, ta.q, events.Owner{Kind: events.KindSMTP, Name: "billing"}, events.Bounced) // an SMTP user of the same name
	appendFeedEvents(t, ta.q, events.Owner{}, events.Bounced)
	want = append(want, appendFeedEvents(t, ta.q, mine, events.Bounced)...)

	var got []string
	query := "?limit=2"
	for range 5 {
		p := ta.feedPage(t, billingToken, query)
		if len(p.Events) == 0 {
			break
		}
		got = append(got, pageIDs(p)...)
		query = "?limit=2&after=" + p.Next
	}
	if !slices.Equal(got, want) {
		t.Fatalf("feed %v, want %v", got, want)
	}
	p := ta.feedPage(t, billingToken, query)
	if len(p.Events) != 0 {
		t.Fatalf("after the end: %v", pageIDs(p))
	}
	later := appendFeedEvents(t, ta.q, mine, events.Delivered)
	if p := ta.feedPage(t, billingToken, "?after="+p.Next); !slices.Equal(pageIDs(p), later) {
		t.Errorf("new events: %v, want %v", pageIDs(p), later)
	}
	if p := ta.feedPage(t, otherToken, ""); len(p.Events) != 1 {
		t.Errorf("the other key sees %d events, want its 1", len(p.Events))
	}
	first := ta.feedPage(t, billingToken, "?limit=1").Events[0]
	for _, k := range []string{"id", "type", "time", "queue_id", "message_id", "sender", "recipient", "dsn", "reply", "mx", "attempt", "metadata"} {
		if _, ok := first[k]; !ok {
			t.Errorf("event without %q: %v", k, first)
		}
	}
}

func TestFeed_TypeFilter(t *testing.T) {
	t.Parallel()
	ta := newTestAPI(t, nil)
	mine := events.Owner{Kind: events.KindAPI, Name: "billing"}
	ids := appendFeedEvents(t, ta.q, mine, events.Delivered, events.Deferred, events.Bounced, events.Delivered, events.Expired)
	p := ta.feedPage(t, billingToken, "?type=bounced,expired")
	if got := pageIDs(p); !slices.Equal(got, []string{ids[2], ids[4]}) {
		t.Errorf("bounced,expired: %v", got)
	}
	p = ta.feedPage(t, billingToken, "?type=delivered&type=bounced&limit=2")
	if got := pageIDs(p); !slices.Equal(got, []string{ids[0], ids[2]}) {
		t.Errorf("delivered and bounced, 2: %v", got)
	}
	if p = ta.feedPage(t, billingToken, "?type=delivered&after="+p.Next); !slices.Equal(pageIDs(p), []string{ids[3]}) {
		t.Errorf("delivered after %s: %v", p.Next, pageIDs(p))
	}
}

func TestFeed_BadParameters(t *testing.T) {
	t.Parallel()
	ta := newTestAPI(t, nil)
	for q, field := range map[string]string{
		"?after=x": "after", "?after=-1": "after", "?limit=0": "limit", "?limit=1001": "limit", "?type=opened": "type",
	} {
		ans := ta.do(t, http.MethodGet, "/v1/events"+q, billingToken, nil)
		if ans.status != 400 {
			t.Errorf("%s: status %d", q, ans.status)
			continue
		}
		if _, f := ans.errorBody(t); f != field {
			t.Errorf("%s: field %q, want %q", q, f, field)
		}
	}
	if ans := ta.do(t, http.MethodGet, "/v1/events", "", nil); ans.status != 401 {
		t.Errorf("feed without a token: %d", ans.status)
	}
}
