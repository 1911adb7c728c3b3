package api

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"sync"

	"github.com/mxout/mxout/queue"
)

// inFlightFactor estimates the memory a request holds from its body:
// the body, the decoded strings, the attachments and the built message.
const inFlightFactor = 4

// send is POST /v1/send.
func (s *Server) send(w http.ResponseWriter, r *http.Request) {
	key := keyOf(r)
	idem, err := idempotencyKey(r)
	if err != nil {
		discardBody(w, r, earlyAnswerBytes)
		writeError(w, err.(*Error))
		return
	}
	limit := s.maxBody()
	size := limit
	if r.ContentLength >= 0 && r.ContentLength < limit {
		size = r.ContentLength
	}
	if r.ContentLength > limit {
		writeError(w, tooBig("", int(r.ContentLength), limit))
		return
	}
	weight := min(inFlightFactor*max(size, 1), s.cfg.MaxInFlightBytes)
	if err := s.budget.Acquire(r.Context(), weight); err != nil {
		return // the client went away while waiting
	}
	defer s.budget.Release(weight)
	if idem != "" {
		unlock, err := s.inflight.lock(r.Context(), key.Name+"\x00"+idem)
		if err != nil {
			return
		}
		defer unlock()
		// The commit below must not be cut short by a client that goes
		// away: the message may be on disk, and a retry must find it.
		rc, ok, err := s.q.Replay(context.WithoutCancel(r.Context()), key.Name, idem)
		if err != nil {
			writeError(w, refusal(err, ""))
			return
		}
		if ok {
			// Read the body before answering: over HTTP/2 an answer
			// before the end of the upload ends the stream with a
			// reset, which some clients (curl 7.88) report as an error
			// instead of the answer.
			discardBody(w, r, limit)
			writeJSON(w, http.StatusAccepted, rc)
			return
		}
	}
	m, err := s.readMessage(w, r, key, limit, size)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			e = refusal(err, "")
		}
		writeError(w, e)
		return
	}
	m.IdempotencyKey = idem
	rc, err := s.q.Submit(context.WithoutCancel(r.Context()), m)
	if err != nil {
		e := refusal(err, m.senderField(err))
		if e.Status >= 500 {
			s.log.Warn("api: message not queued", "key", key.Name, "status", e.Status, "err", err)
		}
		writeError(w, e)
		return
	}
	writeJSON(w, http.StatusAccepted, rc)
}

// earlyAnswerBytes is how much of a body is read before an answer that
// does not need it (a refusal), as net/http does over HTTP/1.1 after a
// handler: enough for a usual request to end cleanly, never a big upload.
const earlyAnswerBytes = 256 << 10

// discardBody reads and drops up to limit bytes of r's body, so that a
// client still uploading gets the answer instead of a reset stream.
func discardBody(w http.ResponseWriter, r *http.Request, limit int64) {
	io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, limit))
}

// maxBody bounds a request body: a message of the largest size, base64-
// or JSON-escaped, with room for the other fields.
func (s *Server) maxBody() int64 { return 2*s.cfg.MaxMessageBytes + 1<<20 }

// readMessage reads, checks and builds the request's message.
func (s *Server) readMessage(w http.ResponseWriter, r *http.Request, key *Key, limit, size int64) (*Message, error) {
	var buf bytes.Buffer
	buf.Grow(int(size) + 1)
	// With w, net/http closes the connection after a body over the limit.
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, limit)); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, &Error{Status: http.StatusRequestEntityTooLarge, Message: "the request body is larger than the limit"}
		}
		return nil, badRequest("", "reading the body: %v", err)
	}
	req, raw, err := s.decodeRequest(buf.Bytes())
	if err != nil {
		return nil, err
	}
	if err := checkMetadata(req.Metadata); err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	id := queue.NewID(now)
	var m *Message
	if raw {
		m, err = s.rawMessage(req, id)
	} else {
		m, err = s.builtMessage(req, id, now)
	}
	if err != nil {
		return nil, err
	}
	m.Key, m.Metadata = key, req.Metadata
	m.TLS = r.TLS != nil
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		m.IP = ap.Addr().Unmap()
		m.Client = m.IP.String()
	}
	return m, nil
}

// keyLocks serializes the requests that carry the same key, so that two
// sends with one Idempotency-Key queue one message. Entries live only
// while a request holds or waits for them.
type keyLocks struct {
	mu sync.Mutex
	m  map[string]*keyLock
}

type keyLock struct {
	sem  chan struct{} // holds one token while locked
	refs int
}

func newKeyLocks() *keyLocks { return &keyLocks{m: map[string]*keyLock{}} }

// lock waits for k until ctx ends, and returns the unlock.
func (l *keyLocks) lock(ctx context.Context, k string) (func(), error) {
	l.mu.Lock()
	e := l.m[k]
	if e == nil {
		e = &keyLock{sem: make(chan struct{}, 1)}
		l.m[k] = e
	}
	e.refs++
	l.mu.Unlock()
	release := func() {
		l.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(l.m, k)
		}
		l.mu.Unlock()
	}
	select {
	case e.sem <- struct{}{}:
		return func() { <-e.sem; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}
