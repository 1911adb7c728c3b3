package dkim_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"os"
	"strings"
	"testing"

	"github.com/mxout/mxout/dkim"
)

func TestParsePrivateKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		file    string
		wantAlg string // "" means an error containing wantErr
		wantErr string
	}{
		{name: "PKCS#8 RSA", file: rsaFile, wantAlg: dkim.AlgorithmRSA},
		{name: "PKCS#1 RSA (opendkim-genkey)", file: rsaPKCS1, wantAlg: dkim.AlgorithmRSA},
		{name: "PKCS#8 Ed25519", file: edFile, wantAlg: dkim.AlgorithmEd25519},
		{name: "RSA below 1024 bits", file: rsaTooSmall, wantErr: "RSA key of 512 bits"},
		{name: "EC key", file: ecFile, wantErr: "unsupported key type"},
		{name: "encrypted", file: encrypted, wantErr: "encrypted"},
		{name: "not PEM", file: "doc.go", wantErr: "no PEM private key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			k, err := dkim.ParsePrivateKey(data)
			if tt.wantAlg == "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("ParsePrivateKey = %v; want an error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if alg, err := dkim.AlgorithmOf(k.Public()); alg != tt.wantAlg || err != nil {
				t.Errorf("algorithm %q, %v; want %s", alg, err, tt.wantAlg)
			}
		})
	}
}

func TestParsePrivateKey_SkipsOtherBlocks(t *testing.T) {
	t.Parallel()
	key, err := os.ReadFile(edFile)
	if err != nil {
		t.Fatal(err)
	}
	data := "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n" + string(key)
	if _, err := dkim.ParsePrivateKey([]byte(data)); err != nil {
		t.Errorf("a key after another PEM block: %v", err)
	}
}

func TestGenerateKey_RoundTripsThroughPEM(t *testing.T) {
	t.Parallel()
	tests := []struct {
		alg     string
		bits    int
		wantErr bool
	}{
		{alg: dkim.AlgorithmEd25519},
		{alg: dkim.AlgorithmRSA, bits: 1024},
		{alg: dkim.AlgorithmRSA, bits: 512, wantErr: true},
		{alg: dkim.AlgorithmRSA, bits: 8192, wantErr: true},
		{alg: "rsa-sha1", bits: 2048, wantErr: true},
	}
	for _, tt := range tests {
		k, err := dkim.GenerateKey(tt.alg, tt.bits, rand.Reader)
		if tt.wantErr {
			if err == nil {
				t.Errorf("GenerateKey(%s, %d) succeeded", tt.alg, tt.bits)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		pemData, err := dkim.MarshalPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		back, err := dkim.ParsePrivateKey(pemData)
		if err != nil {
			t.Fatalf("%s: parse what MarshalPrivateKey wrote: %v", tt.alg, err)
		}
		switch k := k.(type) {
		case *rsa.PrivateKey:
			if !k.Equal(back) || k.N.BitLen() != tt.bits {
				t.Errorf("RSA key changed in the round trip")
			}
		case ed25519.PrivateKey:
			if !k.Equal(back) {
				t.Errorf("Ed25519 key changed in the round trip")
			}
		}
	}
}
