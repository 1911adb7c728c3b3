package submission

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/internal/testwait"
)

// closeWait bounds how long a test waits for the server to hang up; it
// only keeps a broken test from hanging, it measures nothing.
const closeWait = 10 * time.Second

func TestConnectionCaps(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		overall int
		perIP   int
		trusted []netip.Prefix
		// from lists the source address of each connection in turn; want
		// says whether it gets the greeting (true) or 421 4.7.0 (false).
		from []string
		want []bool
	}{{
		// Strangers may hold 8 of 10; the other two stay free for
		// trusted (and authenticated) clients, until all 10 are taken.
		name: "untrusted clients that have not authenticated: 80% of the slots", overall: 10, perIP: 10,
		trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.100/32")},
		from: []string{"127.0.0.1", "127.0.0.1", "127.0.0.1", "127.0.0.1", "127.0.0.2", "127.0.0.2", "127.0.0.2", "127.0.0.2",
			"127.0.0.3", "127.0.0.100", "127.0.0.100", "127.0.0.100"},
		want: []bool{true, true, true, true, true, true, true, true, false, true, true, false},
	}, {
		name: "80% of a single slot is that slot", overall: 1, perIP: 1,
		from: []string{"127.0.0.1", "127.0.0.2"},
		want: []bool{true, false},
	}, {
		name: "per IP", overall: 10, perIP: 2,
		from: []string{"127.0.0.1", "127.0.0.1", "127.0.0.1", "127.0.0.2"},
		want: []bool{true, true, false, true},
	}, {
		name: "trusted networks exempt from the per-IP cap", overall: 10, perIP: 1,
		trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		from:    []string{"127.0.0.1", "127.0.0.1", "127.0.0.1", "127.0.0.2", "127.0.0.2"},
		want:    []bool{true, true, true, true, false},
	}, {
		name: "trusted networks not exempt from the overall cap", overall: 2, perIP: 1,
		trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		from:    []string{"127.0.0.1", "127.0.0.1", "127.0.0.1"},
		want:    []bool{true, true, false},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig()
			cfg.MaxConnections, cfg.MaxConnectionsPerIP, cfg.TrustedNetworks = tt.overall, tt.perIP, tt.trusted
			h := start(t, cfg, &fakeQueue{}, configs.TLSNone)
			var open []*rawConn
			refused := 0
			for i, from := range tt.from {
				c := dialRawFrom(t, h.addr, from)
				if tt.want[i] {
					c.expect("220 ")
					c.must("EHLO client.example", "250")
					open = append(open, c)
					continue
				}
				refused++
				if r := c.reply(); r != "421 4.7.0 relay.example.net Too many connections, try again later" {
					t.Errorf("connection %d from %s: %q", i, from, r)
				}
				c.expectClosed(closeWait)
			}
			if v := testutil.ToFloat64(h.m.MessagesRejected.WithLabelValues(ReasonConnectionLimit)); v != float64(refused) {
				t.Errorf("connection_limit rejections %v, want %d", v, refused)
			}
			// A freed slot is usable again.
			open[0].must("QUIT", "221")
			testwait.For(t, closeWait, "the slot to be freed", func() bool { return h.srv.openConns() < len(open) })
			dialRawFrom(t, h.addr, tt.from[0]).expect("220 ")
		})
	}
}

func TestConnectionCaps_ImplicitTLSClosesWithoutReply(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.MaxConnections = 1
	h := start(t, cfg, &fakeQueue{}, configs.TLSImplicit)
	first, err := tls.Dial("tcp", h.addr, h.client)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	bufio.NewReader(first).ReadString('\n') // the greeting: the slot is taken
	second := dialRawFrom(t, h.addr, "")
	// A plaintext 421 would be garbage to a client that speaks TLS first.
	second.expectClosed(closeWait)
}

func TestMaxErrors_421AndClose(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.MaxErrors = 3
	h := start(t, cfg, &fakeQueue{}, configs.TLSNone)
	c := dialRaw(t, h.addr)
	c.must("EHLO client.example", "250")
	c.must("MAIL FROM:<a@localhost>", "501 5.1.7")
	c.must("MAIL FROM:<a@example.org>", "250")
	c.must("RCPT TO:<b@-bad-.example>", "501 5.1.3")
	c.must("RCPT TO:<bö@example.com>", "553 5.6.7")
	// Accepted commands do not reset the count.
	c.must("RCPT TO:<b@example.com>", "250")
	c.must("RCPT TO:<c..d@example.com>", "421 4.7.0 Too many errors, closing connection")
	c.expectClosed(closeWait)
	if v := testutil.ToFloat64(h.m.MessagesRejected.WithLabelValues(ReasonTooManyErrors)); v != 1 {
		t.Errorf("too_many_errors %v, want 1", v)
	}
}

func TestMaxErrors_TooManyRecipientsIsNotAnError(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.MaxErrors, cfg.MaxRecipients = 1, 1
	h := start(t, cfg, &fakeQueue{}, configs.TLSNone)
	c := dialRaw(t, h.addr)
	c.must("EHLO client.example", "250")
	c.must("MAIL FROM:<a@example.org>", "250")
	c.must("RCPT TO:<b@example.com>", "250")
	for range 3 {
		c.must("RCPT TO:<c@example.com>", "452 4.5.3 Too many recipients")
	}
	c.must("NOOP", "250")
}

// A slowloris client keeps a connection by sending just enough, never
// finishing. Each way of dribbling is cut off by its own deadline.
func TestSlowClients_CutOff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		modify func(*Config)
		// dribble runs after EHLO; it writes slowly until the server
		// gives up, and returns the reply that ended it.
		dribble func(c *rawConn) string
		want    string
	}{{
		name:   "one command byte at a time",
		modify: func(c *Config) { c.ReadTimeout = 300 * time.Millisecond },
		dribble: func(c *rawConn) string {
			r := dribbleBytes(c, "MAIL FROM:<a@example.org>\r\n", 100*time.Millisecond)
			if !strings.HasPrefix(r, "421 ") {
				// go-smtp gets what came before the deadline as a line
				// (here "MAIL F" or so, refused); the next read times out
				// at once.
				r = c.reply()
			}
			return r
		},
		want: "421 4.4.2 Idle timeout, bye bye",
	}, {
		name:   "one DATA byte at a time",
		modify: func(c *Config) { c.DataTimeout = 500 * time.Millisecond },
		dribble: func(c *rawConn) string {
			c.must("MAIL FROM:<a@example.org>", "250")
			c.must("RCPT TO:<b@example.com>", "250")
			c.must("DATA", "354")
			return dribbleBytes(c, strings.Repeat("x", 1000)+"\r\n.\r\n", 50*time.Millisecond)
		},
		want: "421 4.4.2 Timeout while reading message data, closing connection",
	}, {
		name:   "one BDAT chunk at a time",
		modify: func(c *Config) { c.DataTimeout = 500 * time.Millisecond },
		dribble: func(c *rawConn) string {
			c.must("MAIL FROM:<a@example.org>", "250")
			c.must("RCPT TO:<b@example.com>", "250")
			// Each chunk comes quickly; the whole transfer never ends.
			for {
				time.Sleep(50 * time.Millisecond)
				c.write("BDAT 4\r\nab\r\n")
				if r := c.reply(); !strings.HasPrefix(r, "250 ") {
					return r
				}
			}
		},
		// The deadline passes while go-smtp waits for the next BDAT
		// command; it answers a read error there with its own
		// "421 4.4.0 Connection error, sorry".
		want: "421 4.4.",
	}, {
		name:   "one byte of a BDAT chunk at a time",
		modify: func(c *Config) { c.DataTimeout = 500 * time.Millisecond },
		dribble: func(c *rawConn) string {
			c.must("MAIL FROM:<a@example.org>", "250")
			c.must("RCPT TO:<b@example.com>", "250")
			chunk := strings.Repeat("x", 998) + "\r\n"
			c.write(fmt.Sprintf("BDAT %d LAST\r\n", len(chunk)))
			return dribbleBytes(c, chunk, 50*time.Millisecond)
		},
		// Not go-smtp's 554 for a read error inside a chunk: a slow link
		// must not make the client bounce its message.
		want: "421 4.4.2 Timeout while reading message data, closing connection",
	}, {
		name:   "a command every little while",
		modify: func(c *Config) { c.SessionTimeout = 700 * time.Millisecond },
		dribble: func(c *rawConn) string {
			for {
				time.Sleep(100 * time.Millisecond)
				if r := c.cmd("NOOP"); !strings.HasPrefix(r, "250 ") {
					return r
				}
			}
		},
		want: "421 4.4.2 Idle timeout, bye bye",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig()
			tt.modify(&cfg)
			fq := &fakeQueue{}
			h := start(t, cfg, fq, configs.TLSNone)
			c := dialRaw(t, h.addr)
			c.c.SetDeadline(time.Now().Add(closeWait))
			c.must("EHLO client.example", "250")
			if r := tt.dribble(c); !strings.HasPrefix(r, tt.want) {
				t.Errorf("reply %q, want %q", r, tt.want)
			}
			c.expectClosed(closeWait)
			if n := len(fq.messages()); n != 0 {
				t.Errorf("%d messages enqueued", n)
			}
		})
	}
}

// dribbleBytes writes s one byte per gap until the server answers, and
// returns the answer ("" if s was written whole without one).
func dribbleBytes(c *rawConn, s string, gap time.Duration) string {
	replies := make(chan string, 1)
	go func() {
		line, _ := c.r.ReadString('\n')
		replies <- strings.TrimRight(line, "\r\n")
	}()
	for i := 0; i < len(s); i++ {
		select {
		case r := <-replies:
			return r
		case <-time.After(gap):
		}
		if _, err := c.c.Write([]byte{s[i]}); err != nil {
			break
		}
	}
	return <-replies
}

func TestRateLimit_450(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		limit   RateLimit
		trusted bool
		// login as user in each of the sessions, in turn; "" stays
		// unauthenticated (trusted only).
		users []string
		want  []string // reply to the MAIL of each session
	}{{
		name:  "per user, across sessions and addresses",
		limit: RateLimit{Window: time.Hour, MessagesPerUser: 2},
		users: []string{"app", "app", "app", "bob@example.com"},
		want:  []string{"250", "250", "450 4.7.1 Too many messages, try again later", "250"},
	}, {
		name:  "per IP, whoever logs in",
		limit: RateLimit{Window: time.Hour, MessagesPerIP: 2},
		users: []string{"app", "bob@example.com", "bob@example.com"},
		want:  []string{"250", "250", "450 4.7.1"},
	}, {
		name:    "trusted networks exempt from the per-IP limit",
		limit:   RateLimit{Window: time.Hour, MessagesPerIP: 1},
		trusted: true,
		users:   []string{"", "", ""},
		want:    []string{"250", "250", "250"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := authConfig(t)
			cfg.RateLimit = tt.limit
			if tt.trusted {
				cfg.TrustedNetworks = testConfig().TrustedNetworks
			}
			h := start(t, cfg, &fakeQueue{}, configs.TLSImplicit)
			creds := map[string]string{"app": "s3cret", "bob@example.com": "hunter2"}
			from := map[string]string{"app": "a@example.org", "bob@example.com": "bob@example.com", "": "x@example.net"}
			for i, user := range tt.users {
				tc, err := tls.Dial("tcp", h.addr, h.client)
				if err != nil {
					t.Fatal(err)
				}
				c := &rawConn{t: t, c: tc, r: bufio.NewReader(tc)}
				c.expect("220 ")
				c.must("EHLO client.example", "250")
				if user != "" {
					c.must("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+creds[user])), "235")
				}
				if r := c.cmd("MAIL FROM:<" + from[user] + ">"); !strings.HasPrefix(r, tt.want[i]) {
					t.Errorf("session %d (%q): MAIL %q, want %q", i, user, r, tt.want[i])
				} else if tt.want[i] == "250" {
					c.must("RCPT TO:<x@example.com>", "250")
					c.must("DATA", "354")
					c.write(dotEnd(message("Subject: x", "", "y")))
					c.expect("250 2.0.0")
				}
				tc.Close()
			}
		})
	}
}

func TestEHLO_Extensions(t *testing.T) {
	t.Parallel()
	const size = "SIZE 65536"
	tests := []struct {
		name   string
		mode   configs.TLSMode
		tls    bool // after STARTTLS, or implicit
		cfg    func(t *testing.T) Config
		want   []string
		banner string
	}{
		{"plain listener, no users", configs.TLSNone, false, func(*testing.T) Config { return testConfig() },
			[]string{"PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "CHUNKING", "SMTPUTF8", "DSN", size}, ""},
		{"plain listener, users, untrusted", configs.TLSNone, false, authConfig,
			[]string{"PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "CHUNKING", "SMTPUTF8", "DSN", size}, ""},
		{"starttls before TLS", configs.TLSStartTLS, false, authConfig,
			[]string{"PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "CHUNKING", "STARTTLS", "SMTPUTF8", "DSN", size}, ""},
		{"starttls after TLS", configs.TLSStartTLS, true, authConfig,
			[]string{"PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "CHUNKING", "AUTH PLAIN LOGIN", "SMTPUTF8", "DSN", size}, ""},
		{"implicit", configs.TLSImplicit, true, authConfig,
			[]string{"PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "CHUNKING", "AUTH PLAIN LOGIN", "SMTPUTF8", "DSN", size}, ""},
		{"plaintext AUTH for trusted, when allowed", configs.TLSNone, false, func(t *testing.T) Config {
			c := authConfig(t)
			c.TrustedNetworks, c.AllowPlaintextAuthFromTrusted = testConfig().TrustedNetworks, true
			return c
		}, []string{"PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "CHUNKING", "AUTH PLAIN LOGIN", "SMTPUTF8", "DSN", size}, ""},
		{"trusted, plaintext AUTH not allowed", configs.TLSNone, false, func(t *testing.T) Config {
			c := authConfig(t)
			c.TrustedNetworks = testConfig().TrustedNetworks
			return c
		}, []string{"PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "CHUNKING", "SMTPUTF8", "DSN", size}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := start(t, tt.cfg(t), &fakeQueue{}, tt.mode)
			var c *rawConn
			if tt.mode == configs.TLSImplicit {
				tc, err := tls.Dial("tcp", h.addr, h.client)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { tc.Close() })
				c = &rawConn{t: t, c: tc, r: bufio.NewReader(tc)}
				c.expect("220 ")
			} else {
				c = dialRaw(t, h.addr)
				if tt.tls {
					c.must("EHLO client.example", "250")
					c.startTLS(h.client)
				}
			}
			lines := strings.Split(c.cmd("EHLO client.example"), "\n")
			var got []string
			for _, l := range lines[1:] {
				got = append(got, l[4:])
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("EHLO extensions\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// openConns is the number of connections the server holds.
func (s *Server) openConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}
