package jwtkeys

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
)

// Key types Generate makes, as `keys generate --type` names them.
const (
	TypeEd25519 = "ed25519"
	TypeES256   = "es256"
)

// Generate makes a new private key of the type and returns it as a PKCS #8
// PEM block, the form ParseKey (and openssl) reads.
func Generate(typ string) ([]byte, error) {
	var priv any
	switch typ {
	case TypeEd25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		priv = k
	case TypeES256:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		priv = k
	default:
		return nil, fmt.Errorf("key type %q: want %s or %s", typ, TypeEd25519, TypeES256)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}
