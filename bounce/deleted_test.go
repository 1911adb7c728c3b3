package bounce

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mxout/mxout/queue"
)

func TestBounceDeleted_FailsPendingRecipientsOnly(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	rcpt := func(addr string, s queue.State) queue.Recipient {
		return queue.Recipient{RecipientParams: queue.RecipientParams{Addr: addr}, State: s}
	}
	tests := []struct {
		name        string
		rcpts       []queue.Recipient
		notifyErr   error
		wantIndexes []int
		wantErr     bool
	}{
		{name: "all pending", rcpts: []queue.Recipient{rcpt("a@x.example", queue.Pending), rcpt("b@x.example", queue.Pending)}, wantIndexes: []int{0, 1}},
		{name: "some final", rcpts: []queue.Recipient{rcpt("a@x.example", queue.Delivered), rcpt("b@x.example", queue.Pending), rcpt("c@x.example", queue.Failed)}, wantIndexes: []int{1}},
		{name: "none pending", rcpts: []queue.Recipient{rcpt("a@x.example", queue.Delivered)}},
		{name: "report not queued", rcpts: []queue.Recipient{rcpt("a@x.example", queue.Pending)}, notifyErr: errors.New("disk full"), wantIndexes: []int{0}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSetup(t, func(c *Config) { c.Now = func() time.Time { return now } })
			s.q.err = tt.notifyErr
			m := &queue.Message{ID: queue.NewID(now), Envelope: queue.Envelope{From: "app@sender.example"}, Recipients: tt.rcpts}
			err := s.n.BounceDeleted(context.Background(), m, []byte("body"))
			if (err != nil) != tt.wantErr {
				t.Errorf("err = %v, want error %v", err, tt.wantErr)
			}
			r, ok := deletedRound(m, []byte("body"), now)
			if len(tt.wantIndexes) == 0 {
				if ok || len(s.q.sent) != 0 {
					t.Errorf("a round (%v) and %d reports for a message with nothing pending", ok, len(s.q.sent))
				}
				return
			}
			if !ok {
				t.Fatalf("no round, want 1")
			}
			want := 1
			if tt.notifyErr != nil {
				want = 0
			}
			if len(s.q.sent) != want {
				t.Errorf("%d reports queued, want %d", len(s.q.sent), want)
			}
			if r.Message != m || string(r.Body) != "body" || !r.Time.Equal(now) {
				t.Errorf("round = %+v", r)
			}
			var got []int
			for _, res := range r.Results {
				got = append(got, res.Index)
				if res.State != queue.Failed || res.Status != deletedStatus || res.Response != deletedReason || !res.Attempted.Equal(now) {
					t.Errorf("result %+v", res)
				}
			}
			if len(got) != len(tt.wantIndexes) {
				t.Fatalf("results for %v, want %v", got, tt.wantIndexes)
			}
			for i := range got {
				if got[i] != tt.wantIndexes[i] {
					t.Errorf("results for %v, want %v", got, tt.wantIndexes)
				}
			}
		})
	}
}
