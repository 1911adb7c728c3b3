package queuetest_test

import (
	"context"
	"testing"

	"github.com/mxout/mxout/queue"
	"github.com/mxout/mxout/queue/queuetest"
)

// A test queue takes a message and gives it back, and opens again on
// the same directory once closed.
func TestOpen(t *testing.T) {
	t.Parallel()
	opts := queuetest.Options(t.TempDir())
	q := queuetest.Open(t, opts)
	env := queue.Envelope{From: "a@x.example", To: []queue.RecipientParams{{Addr: "b@y.example"}}}
	id, err := q.Enqueue(context.Background(), "", env, []byte("Subject: hi\r\n\r\nbody\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	again := queuetest.Open(t, opts)
	if body, err := again.Body(id); err != nil || string(body) != "Subject: hi\r\n\r\nbody\r\n" {
		t.Errorf("body after reopening = %q, %v", body, err)
	}
}
