package submission

import (
	"strings"
	"testing"

	"github.com/mxout/mxout/configs"
)

func TestMayUseHeaderFrom(t *testing.T) {
	t.Parallel()
	restricted := User{Username: "app", AllowedSenders: []string{"*@example.org", "alerts@example.net"}}
	anyone := User{Username: "relay", AllowedSenders: []string{"*"}}
	tests := []struct {
		name string
		user User
		msg  string
		ok   bool
	}{
		{"allowed domain", restricted, "From: a@example.org\r\n\r\nx", true},
		{"display name and angle brackets", restricted, "From: \"Ops Team\" <ops@Example.ORG>\r\n\r\nx", true},
		{"encoded display name", restricted, "From: =?utf-8?q?J=C3=B6ran?= <j@example.org>\r\n\r\nx", true},
		{"allowed address", restricted, "from : alerts@example.net\r\n\r\nx", true},
		{"folded", restricted, "From: \"Ops\"\r\n <ops@example.org>\r\nSubject: x\r\n\r\nx", true},
		{"other domain", restricted, "From: ceo@example.com\r\n\r\nx", false},
		{"other local part of an address", restricted, "From: root@example.net\r\n\r\nx", false},
		{"subdomain", restricted, "From: a@mail.example.org\r\n\r\nx", false},
		{"one of two mailboxes outside", restricted, "From: a@example.org, ceo@example.com\r\nSender: a@example.org\r\n\r\nx", false},
		{"two From fields", restricted, "From: a@example.org\r\nFrom: ceo@example.com\r\n\r\nx", false},
		{"no From field", restricted, "Subject: x\r\n\r\nFrom: a@example.org\r\n", false},
		{"unparseable", restricted, "From: <a@example.org\r\n\r\nx", false},
		{"empty group", restricted, "From: undisclosed:;\r\n\r\nx", false},
		{"From after a malformed line is body", restricted, "Subject: x\r\nnot a header\r\nFrom: a@example.org\r\n\r\nx", false},
		{"address in the display name does not count", restricted, "From: \"a@example.org\" <ceo@example.com>\r\n\r\nx", false},
		{"star user, anything", anyone, "From: whoever@anywhere.example\r\n\r\nx", true},
		{"star user, even without From", anyone, "Subject: x\r\n\r\nx", true},
	}
	for _, tt := range tests {
		tt.user.PasswordHash = hash(t, "pw")
		a, err := newAuthenticator([]User{tt.user})
		if err != nil {
			t.Fatal(err)
		}
		if got := a.lookup(tt.user.Username).mayUseHeaderFrom([]byte(tt.msg)); got != tt.ok {
			t.Errorf("%s: mayUseHeaderFrom = %v, want %v", tt.name, got, tt.ok)
		}
	}
}

func TestCheckHeaderFrom_553(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		check bool
		from  string
		want  string
	}{
		{"on, allowed", true, "From: App <a@example.org>", "250 2.0.0"},
		{"on, outside allowed_senders", true, "From: CEO <ceo@example.com>", "553 5.7.1 From header not allowed for this user"},
		{"off, outside allowed_senders", false, "From: CEO <ceo@example.com>", "250 2.0.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := authConfig(t)
			cfg.CheckHeaderFrom = tt.check
			fq := &fakeQueue{}
			h := start(t, cfg, fq, configs.TLSImplicit)
			c := dialTLSRaw(t, h, "")
			c.must(authPlain("app", "s3cret"), "235")
			r := c.send("a@example.org", []string{"b@example.com"}, dotEnd(message(tt.from, "Subject: x", "", "body")))
			if !strings.HasPrefix(r, tt.want) {
				t.Errorf("reply %q, want %q", r, tt.want)
			}
			if got, want := len(fq.messages()), map[bool]int{true: 1, false: 0}[strings.HasPrefix(tt.want, "250")]; got != want {
				t.Errorf("%d messages enqueued, want %d", got, want)
			}
		})
	}
}

// The Received field of a real session names TLS version and cipher,
// the user only with ReceivedHeaderAuth, the client IP unless hidden.
func TestReceived_TLSUserAndIP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		authHeader    bool
		hideIP        bool
		want, wantNot []string
	}{
		{"defaults", false, false,
			[]string{"from client.example ([127.0.0.1])", "(using TLSv1.3 with cipher ", "with ESMTPSA id "},
			[]string{"Authenticated sender", "app"}},
		{"received_header_auth", true, false,
			[]string{"(Authenticated sender: app)", "with ESMTPSA id "}, nil},
		{"hide_client_ip", false, true,
			[]string{"Received: from client.example\r\n\t(using TLSv1.3"}, []string{"127.0.0.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := authConfig(t)
			cfg.ReceivedHeaderAuth, cfg.HideClientIP = tt.authHeader, tt.hideIP
			fq := &fakeQueue{}
			h := start(t, cfg, fq, configs.TLSStartTLS)
			c := dialRaw(t, h.addr)
			c.must("EHLO client.example", "250")
			c.startTLS(h.client)
			c.must("EHLO client.example", "250")
			c.must(authPlain("app", "s3cret"), "235")
			queuedID(t, c.send("a@example.org", []string{"b@example.com"}, dotEnd(message("Subject: x", "", "y"))))
			m := fq.messages()
			if len(m) != 1 {
				t.Fatalf("%d messages", len(m))
			}
			received := string(m[0].body[:strings.Index(string(m[0].body), "Message-ID:")])
			for _, w := range tt.want {
				if !strings.Contains(received, w) {
					t.Errorf("Received field lacks %q:\n%s", w, received)
				}
			}
			for _, w := range tt.wantNot {
				if strings.Contains(received, w) {
					t.Errorf("Received field shows %q:\n%s", w, received)
				}
			}
		})
	}
}
