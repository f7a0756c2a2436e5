package haproxy

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/oauth2-password/oauth2-password/tests/harness"
)

const jwtIssuer = "https://auth.example.com"

// jwtServices: orders sends its JWT in Authorization (the deploy config's
// line), catalog in X-Identity (the config's documented adaptation), and
// lets requests without a valid token through as guest.
const jwtServices = `  orders:
    provision_key: ` + provisionKey + `
    scopes: [orders.read, orders.write]
    accept_http_if_already_terminated: true
    upstream_jwt: true
    upstream_jwt_ttl: 60
  catalog:
    provision_key: ` + provisionKey + `
    accept_http_if_already_terminated: true
    upstream_jwt: true
    upstream_jwt_header: X-Identity
    anonymous: guest`

// jwtClaims are the claims an upstream reads with go-jose.
type jwtClaims struct {
	josejwt.Claims
	ClientID   string `json:"client_id"`
	Scope      string `json:"scope"`
	ConsumerID string `json:"consumer_id"`
}

// verifyUpstreamJWT is what an upstream does with a stock library: the
// header's only value is "Bearer <jwt>", an at+jwt signed by a key of set,
// from our issuer, for aud, not expired.
func verifyUpstreamJWT(set jose.JSONWebKeySet, values []string, aud string) (jwtClaims, error) {
	var c jwtClaims
	if len(values) != 1 {
		return c, fmt.Errorf("%d values %q, want our one JWT", len(values), values)
	}
	raw, ok := strings.CutPrefix(values[0], "Bearer ")
	if !ok {
		return c, fmt.Errorf("no Bearer JWT: %q", values[0])
	}
	tok, err := josejwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256})
	if err != nil {
		return c, err
	}
	if typ := tok.Headers[0].ExtraHeaders[jose.HeaderType]; typ != "at+jwt" {
		return c, fmt.Errorf("typ %v", typ)
	}
	keys := set.Key(tok.Headers[0].KeyID)
	if len(keys) != 1 {
		return c, fmt.Errorf("kid %q is not in the JWKS", tok.Headers[0].KeyID)
	}
	if err := tok.Claims(keys[0].Key, &c); err != nil {
		return c, err
	}
	return c, c.ValidateWithLeeway(josejwt.Expected{Issuer: jwtIssuer, AnyAudience: josejwt.Audience{aud}, Time: time.Now()}, 0)
}

// forgedJWT looks like ours but is signed by a key that is not.
func forgedJWT(t *testing.T) string {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: priv}, (&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := josejwt.Signed(sig).Claims(josejwt.Claims{Issuer: jwtIssuer, Subject: "admin", Audience: josejwt.Audience{"orders", "catalog"},
		Expiry: josejwt.NewNumericDate(time.Now().Add(time.Hour))}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestHAProxyUpstreamJWT: with upstream_jwt, the real HAProxy on
// deploy/haproxy's files hands the upstream serve's JWT, which verifies
// with go-jose against serve's JWKS and carries the token's claims; a JWT
// the client sends, next to its token or in the JWT's own header, never
// reaches the upstream; a revoked token gets a 401 and no JWT.
func TestHAProxyUpstreamJWT(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := filepath.Join(dir, "key.pem")
	if _, stderr, code := harness.RunCLI(t, "", "keys", "generate", "--out", key); code != 0 {
		t.Fatalf("keys generate: %d %s", code, stderr)
	}
	s := &stack{db: harness.SQLiteURL(t), config: harness.ServeConfig(jwtServices), api: startUpstream(t), spoeAddr: harness.FreeAddr(t),
		flags: []string{"-signing-key", key, "-issuer", jwtIssuer}}
	s.bob = harness.CreateClient(t, s.db, "bob", "web")
	s.startServe(t)
	s.haproxy = startHAProxyOn(t, s, identityHeaderConfig(t, dir, "X-Identity"))
	hap := s.haproxy
	res, err := http.Get(s.serve.URL + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	if err := jsonInto(readAll(res), &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("JWKS: %v %d keys", err, len(set.Keys))
	}

	forged := forgedJWT(t)
	tr := hap.token(t, s.bob, "/oauth2/token", "user-42", "orders.read")
	tokenEnd := time.Now().Unix() + int64(tr.ExpiresIn)
	tok := tr.AccessToken
	// reaching sends a request and returns what the upstream got, or nil
	// with the status when HAProxy refused it; the forged JWT must be in
	// none of the headers but clients (the client's own, which serve does
	// not own).
	reaching := func(path string, h http.Header, clients ...string) (*echoed, int) {
		t.Helper()
		a := hap.do(t, "GET", path, "", h)
		if a.status != 200 {
			if p, _, _ := strings.Cut(path, "?"); s.api.reached(p) {
				t.Errorf("%s: refused with %d but reached the upstream", path, a.status)
			}
			return nil, a.status
		}
		e := a.echo(t, "haproxy")
		for k, vs := range e.Header {
			if slices.Contains(clients, k) {
				continue
			}
			for _, v := range vs {
				if strings.Contains(v, forged) {
					t.Errorf("%s: the upstream got the client's JWT in %s", path, k)
				}
			}
		}
		return &e, a.status
	}

	t.Run("claims", func(t *testing.T) {
		e, status := reaching("/orders/1", http.Header{"Authorization": {"Bearer " + tok}})
		if e == nil {
			t.Fatalf("valid token: %d", status)
		}
		c, err := verifyUpstreamJWT(set, e.Header["Authorization"], "orders")
		if err != nil {
			t.Fatalf("the upstream's JWT does not verify: %v", err)
		}
		if c.Subject != "user-42" || c.ClientID != s.bob.ID || c.Scope != "orders.read" || c.ConsumerID != harness.ConsumerID || c.ID == "" {
			t.Errorf("claims %+v", c)
		}
		if exp := c.Expiry.Time().Unix(); exp > tokenEnd || exp > time.Now().Unix()+60 || exp < time.Now().Unix()+50 {
			t.Errorf("exp %d: want upstream_jwt_ttl (60 s) from now, not after the token's end %d", exp, tokenEnd)
		}
	})
	t.Run("a client's JWT next to its token", func(t *testing.T) {
		// Second: serve checks the first Authorization (spoe.conf), and
		// set-header replaces every one.
		e, status := reaching("/orders/2", http.Header{"Authorization": {"Bearer " + tok, "Bearer " + forged}})
		if e == nil {
			t.Fatalf("token, then a forged JWT: %d", status)
		}
		if _, err := verifyUpstreamJWT(set, e.Header["Authorization"], "orders"); err != nil {
			t.Errorf("token, then a forged JWT: the upstream's Authorization: %v", err)
		}
		// First: it is taken for the token, and refused.
		if _, status := reaching("/orders/3", http.Header{"Authorization": {"Bearer " + forged, "Bearer " + tok}}); status != 401 {
			t.Errorf("a forged JWT, then the token: %d, want 401", status)
		}
		// With the token in the query.
		if e, status := reaching("/orders/4?access_token="+url.QueryEscape(tok), http.Header{"Authorization": {"Bearer " + forged}}); e != nil {
			if _, err := verifyUpstreamJWT(set, e.Header["Authorization"], "orders"); err != nil {
				t.Errorf("token in the query, a forged JWT in Authorization: %d, the upstream's Authorization: %v", status, err)
			}
		}
	})
	t.Run("a client's JWT in upstream_jwt_header", func(t *testing.T) {
		ctok := hap.token(t, s.bob, "/catalog/oauth2/token", "user-c", "").AccessToken
		e, status := reaching("/catalog/1", http.Header{"Authorization": {"Bearer " + ctok}, "X-Identity": {"Bearer " + forged}})
		if e == nil {
			t.Fatalf("token and a forged X-Identity: %d", status)
		}
		if c, err := verifyUpstreamJWT(set, e.Header["X-Identity"], "catalog"); err != nil || c.Subject != "user-c" {
			t.Errorf("X-Identity: %+v %v", c, err)
		}
		// Anonymous (no token, or a JWT taken for one): serve removes the
		// header, and HAProxy with it. (Authorization is not the JWT's
		// header here: what the client sent there stays, as documented.)
		for _, h := range []http.Header{{"X-Identity": {"Bearer " + forged}}, {"Authorization": {"Bearer " + forged}, "X-Identity": {"Bearer " + forged}}} {
			e, status := reaching("/catalog/2", h, "Authorization")
			if e == nil {
				t.Fatalf("anonymous: %d", status)
			}
			if v, ok := e.Header["X-Identity"]; ok || e.Header["X-Consumer-Username"][0] != "guest" {
				t.Errorf("anonymous: X-Identity %q, consumer %q", v, e.Header["X-Consumer-Username"])
			}
		}
	})
	t.Run("revoked", func(t *testing.T) {
		if a := hap.form(t, "/oauth2/revoke", &s.bob, url.Values{"token": {tok}}); a.status != 200 {
			t.Fatalf("revoke: %d %s", a.status, a.body)
		}
		a := hap.do(t, "GET", "/orders/5", tok, nil)
		if a.status != 401 || s.api.reached("/orders/5") || a.header.Get("Authorization") != "" || strings.Contains(string(a.body), "eyJ") {
			t.Errorf("revoked token: %d %v %s, want 401 without a JWT, the upstream not reached", a.status, a.header, a.body)
		}
	})
}

// identityHeaderConfig writes into dir deploy/haproxy's files with the
// adaptation haproxy.cfg documents for another upstream_jwt_header: the
// two Authorization lines again for that header. It returns the
// haproxy.cfg path.
func identityHeaderConfig(t *testing.T, dir, header string) string {
	t.Helper()
	src := filepath.Dir(ConfigPath(harness.Root()))
	cfg, err := os.ReadFile(filepath.Join(src, "haproxy.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	spoe, err := os.ReadFile(filepath.Join(src, "spoe.conf"))
	if err != nil {
		t.Fatal(err)
	}
	const del = "    http-request del-header Authorization if { var(txn.oauth2.hdr_authorization) -m found }\n"
	const set = "    http-request set-header Authorization %[var(txn.oauth2.hdr_authorization)] if { var(txn.oauth2.hdr_authorization) -m len gt 0 }\n"
	text := string(cfg)
	if strings.Count(text, del) != 1 || strings.Count(text, set) != 1 {
		t.Fatal("haproxy.cfg: the Authorization lines of upstream_jwt changed; update this adaptation")
	}
	v := "hdr_" + strings.ReplaceAll(strings.ToLower(header), "-", "_")
	r := strings.NewReplacer("Authorization", header, "hdr_authorization", v)
	text = strings.Replace(text, set, set+r.Replace(del)+r.Replace(set), 1)
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "spoe.conf"), spoe, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// startHAProxyOn runs HAProxy on the config at path.
func startHAProxyOn(t *testing.T, s *stack, path string) *front {
	t.Helper()
	bin, err := Bin()
	if err != nil {
		t.Fatal(err)
	}
	pem, hc, err := Certificate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := Env{ProxyAddr: harness.FreeAddr(t), TLSCert: pem, ServeAddr: s.serveAddr(), SPOEAddr: s.spoeAddr, UpstreamAddr: s.api.addr()}
	f := &front{name: "haproxy", url: "https://" + e.ProxyAddr, hc: hc}
	run(t, Command(bin, path, e), f)
	return f
}
