package submission

import (
	"testing"

	"github.com/emersion/go-sasl"
)

func TestAccount_MayUse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		user   User
		from   string
		mayUse bool
	}{
		{"star allows any", User{Username: "app", AllowedSenders: []string{"*"}}, "x@anything.example", true},
		{"star allows the null sender", User{Username: "app", AllowedSenders: []string{"*"}}, "", true},
		{"domain pattern", User{Username: "app", AllowedSenders: []string{"*@example.com"}}, "noreply@example.com", true},
		{"domain pattern, other case", User{Username: "app", AllowedSenders: []string{"*@Example.COM"}}, "noreply@EXAMPLE.com", true},
		{"domain pattern, subdomain", User{Username: "app", AllowedSenders: []string{"*@example.com"}}, "a@sub.example.com", false},
		{"domain pattern, suffix trick", User{Username: "app", AllowedSenders: []string{"*@example.com"}}, "a@evilexample.com", false},
		{"domain pattern, null sender", User{Username: "app", AllowedSenders: []string{"*@example.com"}}, "", false},
		{"address", User{Username: "app", AllowedSenders: []string{"noreply@example.com"}}, "noreply@Example.Com", true},
		{"address, other local part", User{Username: "app", AllowedSenders: []string{"noreply@example.com"}}, "reply@example.com", false},
		{"address, local part case", User{Username: "app", AllowedSenders: []string{"noreply@example.com"}}, "NoReply@example.com", false},
		{"second pattern", User{Username: "app", AllowedSenders: []string{"a@example.com", "*@example.org"}}, "b@example.org", true},
		{"empty list, address username", User{Username: "bob@example.com"}, "bob@example.com", true},
		{"empty list, address username, other", User{Username: "bob@example.com"}, "alice@example.com", false},
		{"empty list, plain username", User{Username: "bob"}, "bob@example.com", false},
		{"empty list, plain username, null sender", User{Username: "bob"}, "", false},
	}
	for _, tt := range tests {
		tt.user.PasswordHash = hash(t, "pw")
		a, err := newAuthenticator([]User{tt.user})
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := a.accounts[tt.user.Username].mayUse(tt.from); got != tt.mayUse {
			t.Errorf("%s: mayUse(%q) = %v", tt.name, tt.from, got)
		}
	}
}

// mayUseDomain decides which d= the DKIM signer may use for a user: any
// pattern at the domain covers it, compared as signatures name domains.
func TestAccount_MayUseDomain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		user   User
		domain string
		want   bool
	}{
		{"star", User{Username: "app", AllowedSenders: []string{"*"}}, "any.example", true},
		{"domain pattern", User{Username: "app", AllowedSenders: []string{"*@Example.COM"}}, "example.com", true},
		{"address pattern covers its domain", User{Username: "app", AllowedSenders: []string{"noreply@example.com"}}, "example.com", true},
		{"other domain", User{Username: "app", AllowedSenders: []string{"*@a.example"}}, "b.example", false},
		{"subdomain", User{Username: "app", AllowedSenders: []string{"*@example.com"}}, "sub.example.com", false},
		{"parent domain", User{Username: "app", AllowedSenders: []string{"*@sub.example.com"}}, "example.com", false},
		{"IDN as A-label", User{Username: "app", AllowedSenders: []string{"*@bücher.example"}}, "xn--bcher-kva.example", true},
		{"address username", User{Username: "bob@example.com"}, "example.com", true},
		{"plain username, no patterns", User{Username: "bob"}, "example.com", false},
		{"no signing domain", User{Username: "app", AllowedSenders: []string{"*@a.example"}}, "", false},
	}
	for _, tt := range tests {
		tt.user.PasswordHash = hash(t, "pw")
		a, err := newAuthenticator([]User{tt.user})
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := a.lookup(tt.user.Username).mayUseDomain(tt.domain); got != tt.want {
			t.Errorf("%s: mayUseDomain(%q) = %v", tt.name, tt.domain, got)
		}
	}
}

func TestNeverSends(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		user User
		want bool
	}{
		{User{Username: "app"}, true},
		{User{Username: "app@localhost"}, true}, // not an address MAIL FROM accepts
		{User{Username: "app@example.com"}, false},
		{User{Username: "app", AllowedSenders: []string{"*@example.com"}}, false},
	} {
		if got := NeverSends(tt.user); got != tt.want {
			t.Errorf("NeverSends(%+v) = %v", tt.user, got)
		}
	}
}

func TestParseSenderPattern_Errors(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"", "**", "a*@example.com", "*@", "*@localhost", "*example.com", "@example.com", "a b@example.com"} {
		if _, err := parseSenderPattern(p); err == nil {
			t.Errorf("pattern %q accepted", p)
		}
	}
}

func TestAuthenticator_Check(t *testing.T) {
	t.Parallel()
	a, err := newAuthenticator([]User{{Username: "app", PasswordHash: hash(t, "s3cret")}})
	if err != nil {
		t.Fatal(err)
	}
	if a.check("app", "s3cret") == nil {
		t.Error("right password refused")
	}
	for _, c := range [][2]string{{"app", "wrong"}, {"app", ""}, {"App", "s3cret"}, {"nobody", "s3cret"}, {"", ""}} {
		if a.check(c[0], c[1]) != nil {
			t.Errorf("check(%q, %q) succeeded", c[0], c[1])
		}
	}
	if len(a.dummy) == 0 {
		t.Error("no dummy hash for unknown users")
	}
	none, err := newAuthenticator(nil)
	if err != nil {
		t.Fatal(err)
	}
	if none.enabled() || none.check("", "") != nil {
		t.Error("authenticator without users lets someone in")
	}
}

func TestLoginServer(t *testing.T) {
	t.Parallel()
	var gotUser, gotPass string
	auth := func(u, p string) error { gotUser, gotPass = u, p; return nil }

	// Without an initial response.
	l := newLoginServer(auth)
	steps := []struct {
		resp      []byte
		challenge string
		done      bool
	}{
		{nil, "Username:", false},
		{[]byte("user"), "Password:", false},
		{[]byte("pass"), "", true},
	}
	for i, s := range steps {
		ch, done, err := l.Next(s.resp)
		if err != nil || string(ch) != s.challenge || done != s.done {
			t.Fatalf("step %d: %q %v %v", i, ch, done, err)
		}
	}
	if gotUser != "user" || gotPass != "pass" {
		t.Errorf("authenticated %q/%q", gotUser, gotPass)
	}
	if _, _, err := l.Next([]byte("more")); err != sasl.ErrUnexpectedClientResponse {
		t.Errorf("response after done: %v", err)
	}

	// With the username as initial response.
	l = newLoginServer(auth)
	if ch, done, err := l.Next([]byte("u2")); err != nil || string(ch) != "Password:" || done {
		t.Fatalf("initial response: %q %v %v", ch, done, err)
	}
	if _, done, err := l.Next([]byte("p2")); err != nil || !done || gotUser != "u2" || gotPass != "p2" {
		t.Errorf("password: %v %v %q/%q", done, err, gotUser, gotPass)
	}
}
