package dkim

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
)

// Signing algorithms (RFC 6376 3.3, RFC 8463).
const (
	AlgorithmRSA     = "rsa-sha256"
	AlgorithmEd25519 = "ed25519-sha256"
)

const (
	// MinRSABits is the smallest RSA key accepted (RFC 8301 3.2).
	MinRSABits = 1024
	// MaxRSABits bounds the RSA keys generated and loaded: larger keys do
	// not fit a DNS answer comfortably and sign slowly.
	MaxRSABits = 4096
	// maxKeyFileBytes bounds a key file read, so a wrong path to a large
	// file fails fast.
	maxKeyFileBytes = 64 << 10
)

// Key is one private key with the selector under which its public half is
// published.
type Key struct {
	Selector  string
	Algorithm string // AlgorithmRSA or AlgorithmEd25519
	File      string // where it was loaded from, for messages
	Signer    crypto.Signer
}

// KeyConfig names one key to load.
type KeyConfig struct {
	Selector string
	// PrivateKeyFile is a PEM file; see ParsePrivateKey.
	PrivateKeyFile string
	// Algorithm is AlgorithmRSA or AlgorithmEd25519; empty accepts the key
	// file's type, set it requires that type.
	Algorithm string
}

// LoadKey reads and parses the key kc names. Errors name the file.
func LoadKey(kc KeyConfig) (*Key, error) {
	if kc.Selector == "" {
		return nil, errors.New("no selector")
	}
	f, err := os.Open(kc.PrivateKeyFile)
	if err != nil {
		return nil, fmt.Errorf("read private key: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read private key %s: %w", kc.PrivateKeyFile, err)
	}
	if len(data) > maxKeyFileBytes {
		return nil, fmt.Errorf("private key %s: larger than %d bytes, not a key file", kc.PrivateKeyFile, maxKeyFileBytes)
	}
	signer, err := ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("private key %s: %w", kc.PrivateKeyFile, err)
	}
	alg, err := AlgorithmOf(signer.Public())
	if err != nil {
		return nil, fmt.Errorf("private key %s: %w", kc.PrivateKeyFile, err)
	}
	if kc.Algorithm != "" && kc.Algorithm != alg {
		return nil, fmt.Errorf("private key %s is an %s key, but the algorithm is set to %s", kc.PrivateKeyFile, alg, kc.Algorithm)
	}
	return &Key{Selector: kc.Selector, Algorithm: alg, File: kc.PrivateKeyFile, Signer: signer}, nil
}

// ParsePrivateKey parses the first private key in PEM data: a PKCS#8
// "PRIVATE KEY" block holding an RSA or Ed25519 key, or a PKCS#1 "RSA
// PRIVATE KEY" block. Other blocks before it are skipped; encrypted keys
// are refused, as are RSA keys outside MinRSABits..MaxRSABits.
func ParsePrivateKey(data []byte) (crypto.Signer, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("no PEM private key found")
		}
		if block.Type == "ENCRYPTED PRIVATE KEY" ||
			(len(block.Headers) > 0 && (block.Type == "PRIVATE KEY" || block.Type == "RSA PRIVATE KEY")) {
			return nil, errors.New("the key is encrypted; mxout needs it unencrypted (and the file readable by mxout only)")
		}
		var (
			key any
			err error
		)
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("parse %s block: %w", block.Type, err)
		}
		return checkKey(key)
	}
}

// checkKey accepts the key types and sizes DKIM signs with.
func checkKey(key any) (crypto.Signer, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if bits := k.N.BitLen(); bits < MinRSABits || bits > MaxRSABits {
			return nil, fmt.Errorf("RSA key of %d bits: want %d to %d (RFC 8301)", bits, MinRSABits, MaxRSABits)
		}
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	default:
		return nil, fmt.Errorf("unsupported key type %T: want RSA or Ed25519", key)
	}
}

// AlgorithmOf returns the signing algorithm for a public key.
func AlgorithmOf(pub crypto.PublicKey) (string, error) {
	switch pub.(type) {
	case *rsa.PublicKey:
		return AlgorithmRSA, nil
	case ed25519.PublicKey:
		return AlgorithmEd25519, nil
	}
	return "", fmt.Errorf("unsupported key type %T: want RSA or Ed25519", pub)
}

// GenerateKey makes a new key for algorithm from random; bits is the RSA
// modulus size (MinRSABits to MaxRSABits) and is ignored for Ed25519.
func GenerateKey(algorithm string, bits int, random io.Reader) (crypto.Signer, error) {
	switch algorithm {
	case AlgorithmRSA:
		if bits < MinRSABits || bits > MaxRSABits {
			return nil, fmt.Errorf("RSA key size %d: want %d to %d bits", bits, MinRSABits, MaxRSABits)
		}
		k, err := rsa.GenerateKey(random, bits)
		if err != nil {
			return nil, fmt.Errorf("generate RSA key: %w", err)
		}
		return k, nil
	case AlgorithmEd25519:
		_, k, err := ed25519.GenerateKey(random)
		if err != nil {
			return nil, fmt.Errorf("generate Ed25519 key: %w", err)
		}
		return k, nil
	}
	return nil, fmt.Errorf("unknown algorithm %q: want %s or %s", algorithm, AlgorithmRSA, AlgorithmEd25519)
}

// MarshalPrivateKey encodes key as a PEM PKCS#8 "PRIVATE KEY" block, the
// form ParsePrivateKey and OpenSSL read.
func MarshalPrivateKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}
