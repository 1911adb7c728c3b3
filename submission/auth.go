package submission

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-sasl"
	"golang.org/x/crypto/bcrypt"

	"github.com/mxout/mxout/dkim"
)

// User is an account that may AUTH and then relay.
type User struct {
	Username string
	// PasswordHash is a bcrypt hash, as `mxout passwd` prints it.
	PasswordHash string
	// AllowedSenders are the MAIL FROM patterns this user may use: "*",
	// "*@example.com" or "noreply@example.com". Empty allows only the
	// username itself, when it is an address (see the package doc).
	AllowedSenders []string
}

// NeverSends reports whether u could authenticate but may use no sender
// at all: AllowedSenders is empty and the username is not an address
// (which an empty list would allow). `mxout config check` warns about
// such users.
func NeverSends(u User) bool {
	return len(u.AllowedSenders) == 0 && !usernameIsAddress(u.Username)
}

func usernameIsAddress(name string) bool {
	return strings.Contains(name, "@") && checkAddress(name, true) == nil
}

// account is a User ready for checking.
type account struct {
	name    string
	hash    []byte
	senders []senderPattern
}

// senderPattern is one parsed AllowedSenders entry. A zero local with a
// domain is "*@domain".
type senderPattern struct {
	any           bool
	local, domain string
	// signDomain is domain as a DKIM signature names it (d=): lowercase,
	// A-labels.
	signDomain string
}

func parseSenderPattern(p string) (senderPattern, error) {
	if p == "*" {
		return senderPattern{any: true}, nil
	}
	if domain, ok := strings.CutPrefix(p, "*@"); ok {
		if !validDomain(domain) {
			return senderPattern{}, fmt.Errorf("sender pattern %q: bad domain", p)
		}
		return senderPattern{domain: domain, signDomain: dkim.NormalizeDomain(domain)}, nil
	}
	// '*' is legal in a local part, but here it can only be a mistaken glob.
	if strings.Contains(p, "*") || checkAddress(p, true) != nil {
		return senderPattern{}, fmt.Errorf("sender pattern %q: want *, *@domain or an address", p)
	}
	at := strings.LastIndexByte(p, '@')
	return senderPattern{local: p[:at], domain: p[at+1:], signDomain: dkim.NormalizeDomain(p[at+1:])}, nil
}

// match reports whether the envelope sender from fits the pattern. Only
// "*" matches the null sender.
func (p senderPattern) match(from string) bool {
	if p.any {
		return true
	}
	at := strings.LastIndexByte(from, '@')
	if at < 0 || !strings.EqualFold(from[at+1:], p.domain) {
		return false
	}
	return p.local == "" || p.local == from[:at]
}

// mayUseAny reports whether the account may send as anyone ("*").
func (a *account) mayUseAny() bool {
	for _, p := range a.senders {
		if p.any {
			return true
		}
	}
	return false
}

// mayUse reports whether the account may send as from.
func (a *account) mayUse(from string) bool {
	for _, p := range a.senders {
		if p.match(from) {
			return true
		}
	}
	return false
}

// mayUseDomain reports whether the account may send as some address at
// domain, given as a DKIM signature names it (lowercase, A-labels): a
// pattern "*", "*@domain" or "someone@domain" covers it. The signer asks
// before it signs with domain's key.
func (a *account) mayUseDomain(domain string) bool {
	for _, p := range a.senders {
		if p.any || p.signDomain != "" && p.signDomain == domain {
			return true
		}
	}
	return false
}

// newAccount parses an account's sender patterns; without any, the name
// itself when it is an address.
func newAccount(name string, patterns []string) (*account, error) {
	acc := &account{name: name}
	if len(patterns) == 0 && usernameIsAddress(name) {
		patterns = []string{name}
	}
	for _, p := range patterns {
		sp, err := parseSenderPattern(p)
		if err != nil {
			return nil, err
		}
		acc.senders = append(acc.senders, sp)
	}
	return acc, nil
}

// authenticator checks passwords against the configured accounts.
type authenticator struct {
	accounts map[string]*account
	// dummy is compared against when the user is unknown, so the answer
	// takes as long as for a known user and does not reveal which exist.
	dummy []byte
}

func newAuthenticator(users []User) (*authenticator, error) {
	a := &authenticator{accounts: make(map[string]*account, len(users))}
	maxCost := 0
	for _, u := range users {
		if u.Username == "" {
			return nil, errors.New("user with an empty username")
		}
		if _, dup := a.accounts[u.Username]; dup {
			return nil, fmt.Errorf("user %q: listed twice", u.Username)
		}
		cost, err := bcrypt.Cost([]byte(u.PasswordHash))
		if err != nil {
			return nil, fmt.Errorf("user %q: password hash is not bcrypt: %w", u.Username, err)
		}
		maxCost = max(maxCost, cost)
		acc, err := newAccount(u.Username, u.AllowedSenders)
		if err != nil {
			return nil, fmt.Errorf("user %q: %w", u.Username, err)
		}
		acc.hash = []byte(u.PasswordHash)
		a.accounts[u.Username] = acc
	}
	if len(users) > 0 {
		secret := make([]byte, 16)
		if _, err := rand.Read(secret); err != nil {
			return nil, fmt.Errorf("dummy password: %w", err)
		}
		dummy, err := bcrypt.GenerateFromPassword(secret, maxCost)
		if err != nil {
			return nil, fmt.Errorf("dummy password hash: %w", err)
		}
		a.dummy = dummy
	}
	return a, nil
}

// enabled reports whether any account exists, that is whether AUTH is
// offered at all.
func (a *authenticator) enabled() bool { return len(a.accounts) > 0 }

// lookup returns the account named username, nil if there is none.
func (a *authenticator) lookup(username string) *account { return a.accounts[username] }

// check returns the account when the password is right, nil otherwise. An
// unknown user costs one bcrypt comparison too.
func (a *authenticator) check(username, password string) *account {
	acc, known := a.accounts[username]
	hash := a.dummy
	if known {
		hash = acc.hash
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil || !known {
		return nil
	}
	return acc
}

// loginServer is the server side of the obsolete but widespread LOGIN SASL
// mechanism (draft-murchison-sasl-login), which go-sasl only has as a
// client: it asks for the username, then the password, each base64 encoded
// by go-smtp. An initial response is taken as the username.
type loginServer struct {
	step         int
	username     string
	authenticate func(username, password string) error
}

func newLoginServer(authenticate func(username, password string) error) *loginServer {
	return &loginServer{authenticate: authenticate}
}

// Next implements sasl.Server.
func (l *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch l.step {
	case 0:
		if response == nil {
			l.step = 1
			return []byte("Username:"), false, nil
		}
		fallthrough // the initial response is the username
	case 1:
		l.username = string(response)
		l.step = 2
		return []byte("Password:"), false, nil
	case 2:
		l.step = 3
		return nil, true, l.authenticate(l.username, string(response))
	default:
		return nil, false, sasl.ErrUnexpectedClientResponse
	}
}
