package api

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
)

// Key is an application's credential.
type Key struct {
	// Name identifies the key in logs, events and webhook filters.
	Name string
	// TokenSHA256 is the hex SHA-256 of the token.
	TokenSHA256 string
	// AllowedSenders are sender patterns, as submission users have.
	AllowedSenders []string
}

// tokenPrefix marks mxout tokens, so that secret scanners can find a
// leaked one.
const tokenPrefix = "mxo_"

// maxTokenLen bounds the bearer value that is hashed.
const maxTokenLen = 512

// NewToken returns a new random token: 256 bits, base64url, with a prefix.
func NewToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// TokenSHA256 is the hex SHA-256 of token, as api.keys[].token_sha256 holds it.
func TokenSHA256(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// keyring finds the key of a presented token.
type keyring struct {
	keys   []Key
	hashes [][32]byte
}

func newKeyring(keys []Key) (*keyring, error) {
	kr := &keyring{keys: keys, hashes: make([][32]byte, len(keys))}
	for i, k := range keys {
		raw, err := hex.DecodeString(k.TokenSHA256)
		if err != nil || len(raw) != 32 {
			return nil, fmt.Errorf("key %q: token hash is not 64 hex digits", k.Name)
		}
		copy(kr.hashes[i][:], raw)
	}
	return kr, nil
}

// authenticate returns the key whose token the request bears, or nil. The
// token is hashed and compared with every key's hash in constant time,
// without stopping at a match, so the time taken tells nothing of which
// keys exist or how close a guess came. A SHA-256 per request suffices:
// tokens are 256 random bits, so there is no dictionary to slow down.
func (kr *keyring) authenticate(r *http.Request) *Key {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || len(token) > maxTokenLen {
		return nil
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
	found := -1
	for i := range kr.hashes {
		if subtle.ConstantTimeCompare(sum[:], kr.hashes[i][:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return nil
	}
	return &kr.keys[found]
}
