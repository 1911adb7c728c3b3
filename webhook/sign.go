package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader is the header that carries a batch's signature.
const SignatureHeader = "Mxout-Signature"

// maxSignatureHeader bounds what Verify parses.
const maxSignatureHeader = 1024

// Sign returns the SignatureHeader value for body sent at t:
// "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>".
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Errors of Verify.
var (
	ErrBadHeader = errors.New("webhook: malformed signature header")
	ErrMismatch  = errors.New("webhook: signature does not match")
	ErrTooOld    = errors.New("webhook: signature timestamp outside the tolerance")
)

// Verify checks a SignatureHeader value against the body received, as a
// receiver written in Go would: one of its v1 signatures must match, and
// its t must be within tolerance of now (a replay guard; 0 skips it).
func Verify(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	ts, sigs, err := parseSignature(header)
	if err != nil {
		return err
	}
	want := mac(secret, ts, body)
	ok := false
	for _, s := range sigs {
		got, err := hex.DecodeString(s)
		if err == nil && hmac.Equal(got, want) {
			ok = true
		}
	}
	if !ok {
		return ErrMismatch
	}
	if tolerance > 0 {
		sec, _ := strconv.ParseInt(ts, 10, 64) // parseSignature checked it
		if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
			return fmt.Errorf("%w: signed at %d, now %d", ErrTooOld, sec, now.Unix())
		}
	}
	return nil
}

// parseSignature splits "t=...,v1=...[,v1=...]"; unknown keys are ignored
// so that a later scheme can be added beside v1.
func parseSignature(header string) (ts string, sigs []string, err error) {
	if len(header) > maxSignatureHeader {
		return "", nil, ErrBadHeader
	}
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return "", nil, ErrBadHeader
		}
		switch k {
		case "t":
			if ts != "" {
				return "", nil, ErrBadHeader
			}
			if _, err := strconv.ParseInt(v, 10, 64); err != nil {
				return "", nil, ErrBadHeader
			}
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	if ts == "" || len(sigs) == 0 {
		return "", nil, ErrBadHeader
	}
	return ts, sigs, nil
}
