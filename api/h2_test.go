package api

import (
	"bytes"
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mxout/mxout/internal/testcert"
	"github.com/mxout/mxout/queue"
)

// countingReader counts what the client's transport took of a body.
type countingReader struct {
	r   io.Reader
	n   atomic.Int64
	eof atomic.Bool
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	if err == io.EOF {
		c.eof.Store(true)
	}
	return n, err
}

// Over HTTP/2 a replayed Idempotency-Key is answered after its whole body
// is read: answered before, the stream ends with a reset while the client
// still uploads, which curl reports as an error instead of the answer.
// The body is larger than HTTP/2's flow-control windows, so a server that
// does not read cannot have taken it all.
func TestSend_ReplayOverHTTP2ReadsTheBody(t *testing.T) {
	t.Parallel()
	pair, err := testcert.New("localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	ta := newTestAPI(t, func(c *Config, _ *queue.Options) {
		c.TLSConfig = &tls.Config{Certificates: []tls.Certificate{pair.TLS}}
	})
	client := &http.Client{Transport: &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{RootCAs: pair.Pool()}}}
	url := strings.Replace(ta.url, "http://", "https://", 1) + "/v1/send"
	post := func(body io.Reader) (int, string, []byte) {
		req, err := http.NewRequest(http.MethodPost, url, body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+billingToken)
		req.Header.Set("Idempotency-Key", "big-1")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("reading the answer: %v", err)
		}
		return resp.StatusCode, resp.Proto, b
	}
	status, proto, first := post(strings.NewReader(`{"from":"app@example.com","to":["x@example.net"],"text":"once"}`))
	if status != http.StatusAccepted || proto != "HTTP/2.0" {
		t.Fatalf("first send: %d over %s: %s", status, proto, first)
	}
	big := &countingReader{r: bytes.NewReader(bytes.Repeat([]byte(" "), 5<<19))}
	status, _, again := post(big)
	if status != http.StatusAccepted || !bytes.Equal(again, first) {
		t.Errorf("the repeat: %d %s, want the first answer %s", status, again, first)
	}
	if !big.eof.Load() {
		t.Errorf("the server answered after %d of %d bytes of the body", big.n.Load(), 5<<19)
	}
}
