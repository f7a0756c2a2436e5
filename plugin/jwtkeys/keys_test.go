package jwtkeys

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
)

func pemOf(t *testing.T, typ string, der []byte, err error) []byte {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// p256Params is the block `openssl ecparam -name prime256v1 -genkey`
// writes before the key: the curve's OID.
const p256Params = "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"

// TestParseKey: the key files operators have (ours, openssl's PKCS #8 and
// SEC 1) are read; any other key is refused with a message that names the
// problem and never the key's bytes.
func TestParseKey(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	sec1, err := x509.MarshalECPrivateKey(p256)
	sec1PEM := pemOf(t, "EC PRIVATE KEY", sec1, err)
	p384DER, err := x509.MarshalPKCS8PrivateKey(p384)
	p384PEM := pemOf(t, "PRIVATE KEY", p384DER, err)
	rsaDER, err := x509.MarshalPKCS8PrivateKey(rsaKey)
	rsaPEM := pemOf(t, "PRIVATE KEY", rsaDER, err)
	ed, _ := Generate(TypeEd25519)
	es, _ := Generate(TypeES256)
	for _, tc := range []struct {
		name string
		pem  []byte
		alg  string // "" = refused
		says string
	}{
		{"generated Ed25519", ed, "EdDSA", ""},
		{"generated ES256", es, "ES256", ""},
		{"openssl ecparam -noout (SEC 1)", sec1PEM, "ES256", ""},
		{"openssl ecparam (the curve's parameters, then SEC 1)", append([]byte(p256Params), sec1PEM...), "ES256", ""},
		{"parameters only", []byte(p256Params), "", "no PEM block"},
		{"P-384", p384PEM, "", "only P-256"},
		{"RSA", rsaPEM, "", "only Ed25519 and EC P-256"},
		{"a certificate", pemOf(t, "CERTIFICATE", []byte{1, 2, 3}, nil), "", "not a private key"},
		{"not PEM", []byte("hello"), "", "no PEM block"},
		{"damaged", pemOf(t, "PRIVATE KEY", []byte("AAAAsecretbytes"), nil), "", "cannot be parsed"},
	} {
		k, err := ParseKey(tc.pem)
		switch {
		case tc.alg != "" && (err != nil || k.Algorithm() != tc.alg || len(k.KID()) != 43):
			t.Errorf("%s: %v, want an %s key with a thumbprint kid", tc.name, err, tc.alg)
		case tc.alg == "" && (err == nil || !strings.Contains(err.Error(), tc.says) || strings.Contains(err.Error(), "secretbytes")):
			t.Errorf("%s: error %v, want one saying %q", tc.name, err, tc.says)
		}
	}
}

func TestSetAndIssuer(t *testing.T) {
	ed, _ := Generate(TypeEd25519)
	k, err := ParseKey(ed)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewSet("https://a.example", []*Key{k, k}); err == nil {
		t.Error("the same key twice was accepted")
	}
	for issuer, ok := range map[string]bool{"https://auth.example.com": true, "https://a.example/tenant": true, "http://127.0.0.1:8080": true,
		"": false, "auth.example.com": false, "https://a.example/?x=1": false, "https://a.example/#f": false, "ftp://a.example": false,
		// An empty fragment is still one (RFC 3986 §3.5); a space is no URL character.
		"https://a.example#": false, "https://a.example/a b": false, "https://a.example/\t": false} {
		if err := CheckIssuer(issuer); (err == nil) != ok {
			t.Errorf("issuer %q: %v, want accepted %v", issuer, err, ok)
		}
	}
}
