package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
	"time"
)

// The header is exactly t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>,
// computed here independently of Sign.
func TestSign_Format(t *testing.T) {
	t.Parallel()
	body := []byte(`{"events":[]}`)
	at := time.Unix(1764590400, 0)
	m := hmac.New(sha256.New, []byte("whsec"))
	m.Write([]byte("1764590400." + string(body)))
	want := "t=1764590400,v1=" + hex.EncodeToString(m.Sum(nil))
	if got := Sign("whsec", at, body); got != want {
		t.Errorf("Sign = %q, want %q", got, want)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	body := []byte(`{"events":[{"id":"x"}]}`)
	now := time.Unix(1764590400, 0)
	good := Sign("k", now, body)
	other := Sign("old", now, body)
	tests := []struct {
		name, header string
		body         []byte
		now          time.Time
		want         error
	}{
		{"good", good, body, now, nil},
		{"rotated secret: two v1", other + ",v1=" + good[len("t=1764590400,v1="):], body, now, nil},
		{"other body", good, []byte(`{"events":[]}`), now, ErrMismatch},
		{"other secret", other, body, now, ErrMismatch},
		{"too old", good, body, now.Add(10 * time.Minute), ErrTooOld},
		{"from the future", good, body, now.Add(-10 * time.Minute), ErrTooOld},
		{"no t", "v1=abcd", body, now, ErrBadHeader},
		{"no v1", "t=1764590400", body, now, ErrBadHeader},
		{"t twice", "t=1,t=2,v1=ab", body, now, ErrBadHeader},
		{"t not a number", "t=x,v1=ab", body, now, ErrBadHeader},
		{"empty", "", body, now, ErrBadHeader},
	}
	for _, tt := range tests {
		err := Verify("k", tt.header, tt.body, tt.now, 5*time.Minute)
		if !errors.Is(err, tt.want) && !(tt.want == nil && err == nil) {
			t.Errorf("%s: Verify = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func FuzzVerify(f *testing.F) {
	now := time.Unix(1764590400, 0)
	f.Add(Sign("k", now, []byte("{}")), []byte("{}"))
	f.Add("t=1,v1=zz,v1=", []byte(""))
	f.Add("t=-9223372036854775808,v1=00", []byte("x"))
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		err := Verify("k", header, body, now, time.Minute)
		if err == nil && header != Sign("k", now, body) {
			// A different header may verify only if it carries the right MAC.
			if _, sigs, perr := parseSignature(header); perr != nil || len(sigs) == 0 {
				t.Errorf("Verify accepted %q", header)
			}
		}
	})
}
