package api

import (
	"net/http"
	"regexp"
	"testing"
)

func TestNewToken(t *testing.T) {
	t.Parallel()
	a, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewToken()
	if a == b || !regexp.MustCompile(`^mxo_[A-Za-z0-9_-]{43}$`).MatchString(a) {
		t.Errorf("tokens %q, %q: want two different mxo_ + 43 base64url characters", a, b)
	}
}

func TestTokenSHA256(t *testing.T) {
	t.Parallel()
	// echo -n password | sha256sum
	if got := TokenSHA256("password"); got != "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8" {
		t.Errorf("TokenSHA256 = %s", got)
	}
}

func TestKeyring(t *testing.T) {
	t.Parallel()
	kr, err := newKeyring([]Key{{Name: "a", TokenSHA256: TokenSHA256("ta")}, {Name: "b", TokenSHA256: TokenSHA256("tb")}})
	if err != nil {
		t.Fatal(err)
	}
	for auth, want := range map[string]string{
		"Bearer ta": "a", "Bearer tb": "b", "BEARER tb": "b", "Bearer  tb": "b",
		"Bearer tc": "", "Bearer ": "", "Bearer": "", "ta": "", "Basic dGE=": "", "": "",
	} {
		r, _ := http.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", auth)
		got := ""
		if k := kr.authenticate(r); k != nil {
			got = k.Name
		}
		if got != want {
			t.Errorf("%q: key %q, want %q", auth, got, want)
		}
	}
	if _, err := newKeyring([]Key{{Name: "x", TokenSHA256: "ta"}}); err == nil {
		t.Error("a token instead of its hash was accepted")
	}
}
