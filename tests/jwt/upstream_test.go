// Package jwt tests upstream identity (phantom tokens, docs/upstream-jwt.md)
// through the real binary: in serve mode behind forward auth and Envoy's
// gRPC ext_authz, and in Kong mode under the test host. Every JWT the
// upstream gets is verified with a stock library (go-jose's jwt package)
// against the JWKS fetched from our own endpoint, never with our code.
package jwt

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/oauth2-password/oauth2-password/tests/harness"
)

const issuer = "https://auth.example.com"

// claims are the RFC 9068 claims and our private ones, as a verifier reads
// them.
type claims struct {
	josejwt.Claims
	ClientID         string `json:"client_id"`
	Scope            string `json:"scope"`
	ConsumerID       string `json:"consumer_id"`
	ConsumerUsername string `json:"consumer_username"`
	ConsumerCustomID string `json:"consumer_custom_id"`
	KID              string `json:"-"`
}

// getJWKS gets the published keys.
func getJWKS(hc *http.Client, url string) (jose.JSONWebKeySet, http.Header, error) {
	var set jose.JSONWebKeySet
	res, err := hc.Get(url)
	if err != nil {
		return set, nil, err
	}
	defer res.Body.Close()
	if b, _ := io.ReadAll(res.Body); res.StatusCode != 200 || json.Unmarshal(b, &set) != nil {
		return set, nil, fmt.Errorf("GET %s: %d %s", url, res.StatusCode, b)
	}
	return set, res.Header, nil
}

// fetchJWKS is getJWKS for the test goroutine.
func fetchJWKS(t *testing.T, hc *http.Client, url string) (jose.JSONWebKeySet, http.Header) {
	t.Helper()
	set, h, err := getJWKS(hc, url)
	if err != nil {
		t.Fatal(err)
	}
	return set, h
}

// verifyJWT is what an upstream does with a stock library: the header
// value is "Bearer <jwt>", an at+jwt signed by a key of set, from our
// issuer, for aud, not expired at now.
func verifyJWT(set jose.JSONWebKeySet, header, aud string, now time.Time) (claims, error) {
	var c claims
	raw, ok := strings.CutPrefix(header, "Bearer ")
	if !ok {
		return c, fmt.Errorf("no Bearer JWT (header %q)", header)
	}
	tok, err := josejwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256})
	if err != nil {
		return c, err
	}
	h := tok.Headers[0]
	if h.ExtraHeaders[jose.HeaderType] != "at+jwt" {
		return c, fmt.Errorf("typ %v, want at+jwt", h.ExtraHeaders[jose.HeaderType])
	}
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		return c, fmt.Errorf("kid %q is not in the JWKS", h.KeyID)
	}
	if err := tok.Claims(keys[0].Key, &c); err != nil {
		return c, err
	}
	c.KID = h.KeyID
	return c, c.ValidateWithLeeway(josejwt.Expected{Issuer: issuer, AnyAudience: josejwt.Audience{aud}, Time: now}, 0)
}

// upstream is the service behind the proxy: on every request it fetches
// the JWKS from our endpoint and verifies the JWT in header with
// verifyJWT, answering 200 with the claims or 401 with why.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string // the JWT header of every request, "" when absent
}

func newUpstream(t *testing.T, jwksURL, header, aud string) *upstream {
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := r.Header.Get(header)
		u.mu.Lock()
		u.seen = append(u.seen, v)
		u.mu.Unlock()
		set, _, err := getJWKS(http.DefaultClient, jwksURL)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		c, err := verifyJWT(set, v, aud, time.Now())
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		json.NewEncoder(w).Encode(c)
	}))
	t.Cleanup(u.Close)
	return u
}

// call sends a request to the upstream with the headers the proxy let
// through, and returns its answer: the verified claims, or the status
// and reason.
func (u *upstream) call(t *testing.T, h http.Header) (claims, int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", u.URL+"/api", nil)
	req.Header = h
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var c claims
	if res.StatusCode == 200 {
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatal(err)
		}
	}
	return c, res.StatusCode, strings.TrimSpace(string(b))
}

// keyFile generates a signing key with the binary's CLI.
func keyFile(t *testing.T, typ string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), typ+".pem")
	out, stderr, code := harness.RunCLI(t, "", "keys", "generate", "--type", typ, "--out", path)
	if code != 0 || len(out) != 0 {
		t.Fatalf("keys generate: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v; want 0600", err, fi.Mode())
	}
	return path
}

// forged is a JWT that looks like ours (typ, iss, aud, claims) but is
// signed by a key that is not.
func forged(t *testing.T) string {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: priv}, (&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	raw, err := josejwt.Signed(sig).Claims(josejwt.Claims{Issuer: issuer, Subject: "admin", Audience: josejwt.Audience{"orders", "custom", "anon"},
		IssuedAt: josejwt.NewNumericDate(now), Expiry: josejwt.NewNumericDate(now.Add(time.Hour))}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
