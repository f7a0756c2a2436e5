// Package jwtkeys holds the signing keys of upstream JWTs (phantom tokens,
// docs/upstream-jwt.md): it reads the operator's PEM files, signs a JWT's
// claims with the current key and publishes every key's public half as a
// JWKS (RFC 7517 §5). JOSE itself (JWS serialization, JWK encoding,
// thumbprints) is go-jose's; nothing here encodes JOSE by hand.
//
// Private keys are only ever held in memory: nothing here writes, logs or
// prints one, and errors name the file, never its contents.
package jwtkeys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
)

// Key is one signing key: its private half and how it is published.
type Key struct {
	kid    string
	alg    jose.SignatureAlgorithm
	signer jose.Signer
	public jose.JSONWebKey
}

// KID is the key's id: its RFC 7638 thumbprint (SHA-256, base64url), so
// that the same key file always has the same kid, on every node and after
// every restart, with nothing to configure.
func (k *Key) KID() string { return k.kid }

// Algorithm is the JWS alg the key signs with: EdDSA or ES256.
func (k *Key) Algorithm() string { return string(k.alg) }

// ParseKey reads one PEM private key: Ed25519 (PKCS #8, as `openssl
// genpkey -algorithm ed25519` writes it) or EC P-256 (PKCS #8, or SEC 1
// "EC PRIVATE KEY" as `openssl ecparam -genkey` writes it, after an "EC
// PARAMETERS" block naming the curve, which is skipped: the key names its
// curve too). Other key types are refused: RFC 9068 §2.1 requires
// asymmetric signatures, and these two are what every common JWT library
// verifies.
func ParseKey(data []byte) (*Key, error) {
	block, rest := pem.Decode(data)
	for block != nil && block.Type == "EC PARAMETERS" {
		block, rest = pem.Decode(rest)
	}
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	var priv any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		priv, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		priv, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key (want PRIVATE KEY or EC PRIVATE KEY)", block.Type)
	}
	if err != nil {
		return nil, errors.New("the private key cannot be parsed") // x509's message may quote key bytes: not repeated
	}
	var alg jose.SignatureAlgorithm
	var pub crypto.PublicKey
	switch p := priv.(type) {
	case ed25519.PrivateKey:
		alg, pub = jose.EdDSA, p.Public()
	case *ecdsa.PrivateKey:
		if p.Curve != elliptic.P256() {
			return nil, fmt.Errorf("EC key on %s: only P-256 (ES256) is supported", p.Curve.Params().Name)
		}
		alg, pub = jose.ES256, p.Public()
	default:
		return nil, fmt.Errorf("a %T key: only Ed25519 and EC P-256 are supported", priv)
	}
	jwk := jose.JSONWebKey{Key: pub, Algorithm: string(alg), Use: "sig"}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("thumbprint: %v", err)
	}
	jwk.KeyID = base64.RawURLEncoding.EncodeToString(tp)
	// RFC 9068 §2.1: typ "at+jwt" in the header, so that an upstream can
	// tell this access token from an ID token or any other JWT.
	opts := (&jose.SignerOptions{}).WithType("at+jwt")
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: priv, KeyID: jwk.KeyID}}, opts)
	if err != nil {
		return nil, fmt.Errorf("signer: %v", err)
	}
	return &Key{kid: jwk.KeyID, alg: alg, signer: signer, public: jwk}, nil
}

// Set is the process's keys: the first signs, all are published, so that
// JWTs signed by a key being retired keep verifying until they expire.
type Set struct {
	issuer string
	keys   []*Key
	jwks   []byte
}

// Load reads the key files (the first is current) for issuer, the `iss`
// of every JWT. A key given twice is refused: it is surely a mistake in
// a rotation.
func Load(issuer string, files []string) (*Set, error) {
	if len(files) == 0 {
		return nil, errors.New("no signing key")
	}
	if err := CheckIssuer(issuer); err != nil {
		return nil, err
	}
	keys := make([]*Key, 0, len(files))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("signing key %s: %v", f, errors.Unwrap(err))
		}
		k, err := ParseKey(data)
		if err != nil {
			return nil, fmt.Errorf("signing key %s: %v", f, err)
		}
		keys = append(keys, k)
	}
	return NewSet(issuer, keys)
}

// NewSet is Load with keys already parsed.
func NewSet(issuer string, keys []*Key) (*Set, error) {
	if len(keys) == 0 {
		return nil, errors.New("no signing key")
	}
	var doc jose.JSONWebKeySet
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k.kid] {
			return nil, fmt.Errorf("signing key %s is given twice", k.kid)
		}
		seen[k.kid] = true
		doc.Keys = append(doc.Keys, k.public)
	}
	jwks, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("JWKS: %v", err)
	}
	return &Set{issuer: issuer, keys: keys, jwks: jwks}, nil
}

// CheckIssuer accepts an absolute http(s) URL with no query or fragment
// (RFC 8414 §2: the issuer identifier; https is required there, http is
// let through for a loopback test bed).
func CheckIssuer(issuer string) error {
	u, err := url.Parse(issuer)
	// url.Parse keeps no trace of an empty fragment ("…#"), and takes a
	// space in the path: both are refused on the raw string.
	if issuer == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery ||
		strings.ContainsFunc(issuer, func(r rune) bool { return r == '#' || r <= ' ' || r == 0x7f }) {
		return fmt.Errorf("issuer %q must be an https URL with no query or fragment (RFC 8414 §2)", issuer)
	}
	return nil
}

// Issuer is the `iss` of every JWT the set signs.
func (s *Set) Issuer() string { return s.issuer }

// KID is the current key's id.
func (s *Set) KID() string { return s.keys[0].kid }

// Keys are the keys, the current one first.
func (s *Set) Keys() []*Key { return s.keys }

// JWKS is the JSON Web Key Set of every key's public half (RFC 7517 §5),
// each with kid, alg and use "sig". The caller must not modify it.
func (s *Set) JWKS() []byte { return s.jwks }

// Sign signs payload, a JWT claims set as JSON, with the current key and
// returns the JWS compact serialization (RFC 7515 §7.1).
func (s *Set) Sign(payload []byte) (string, error) {
	jws, err := s.keys[0].signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}
