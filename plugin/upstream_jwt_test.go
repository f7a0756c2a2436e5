package plugin

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/oauth2-password/oauth2-password/plugin/jwtkeys"
	"github.com/oauth2-password/oauth2-password/store"
)

const testIssuer = "https://auth.example.com"

// newSigner is a key set of fresh keys of the types given.
func newSigner(t *testing.T, types ...string) *jwtkeys.Set {
	t.Helper()
	var keys []*jwtkeys.Key
	for _, typ := range types {
		pem, err := jwtkeys.Generate(typ)
		if err != nil {
			t.Fatal(err)
		}
		k, err := jwtkeys.ParseKey(pem)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	s, err := jwtkeys.NewSet(testIssuer, keys)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newJWTEnv(t *testing.T, s *jwtkeys.Set) *env {
	return newEnvOpts(t, nil, func(o *Options) { o.Signer = s })
}

// upstreamClaims are the claims of a JWT as go-jose's jwt package reads
// them, verified against the engine's published JWKS: the check an
// upstream makes, with a stock library rather than our code.
type upstreamClaims struct {
	jwt.Claims
	ClientID         string `json:"client_id"`
	Scope            string `json:"scope"`
	ConsumerID       string `json:"consumer_id"`
	ConsumerUsername string `json:"consumer_username"`
	ConsumerCustomID string `json:"consumer_custom_id"`
}

func verifyUpstream(t *testing.T, e *Engine, header string) (upstreamClaims, string) {
	t.Helper()
	raw, ok := strings.CutPrefix(header, "Bearer ")
	if !ok {
		t.Fatalf("upstream header %q is not Bearer <jwt>", header)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(e.JWKSResponse().Body, &set); err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	h := tok.Headers[0]
	if h.ExtraHeaders["typ"] != "at+jwt" {
		t.Errorf("typ %v, want at+jwt (RFC 9068 §2.1)", h.ExtraHeaders["typ"])
	}
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %q: %d keys in the JWKS", h.KeyID, len(keys))
	}
	var c upstreamClaims
	if err := tok.Claims(keys[0].Key, &c); err != nil {
		t.Fatalf("signature: %v", err)
	}
	return c, h.KeyID
}

func TestUpstreamJWTClaims(t *testing.T) {
	for _, typ := range []string{jwtkeys.TypeEd25519, jwtkeys.TypeES256} {
		t.Run(typ, func(t *testing.T) {
			v := newJWTEnv(t, newSigner(t, typ))
			c := v.config(`{"upstream_jwt":true,"upstream_jwt_ttl":120}`)
			tok := str(v.issue(c), "access_token")
			f := v.proxy(c, tok)
			expectProxied(t, f)
			got, _ := verifyUpstream(t, v.e, f.up("Authorization"))
			now := v.clock()
			err := got.ValidateWithLeeway(jwt.Expected{Issuer: testIssuer, Subject: "user-1", AnyAudience: jwt.Audience{testService}, Time: now}, 0)
			if err != nil {
				t.Errorf("claims: %v", err)
			}
			if got.ClientID != "app" || got.Scope != "email" || got.ConsumerID != testConsumer.ID ||
				got.ConsumerUsername != testConsumer.Username || got.ConsumerCustomID != testConsumer.CustomID {
				t.Errorf("claims %+v", got)
			}
			if got.IssuedAt.Time().Unix() != now.Unix() || got.Expiry.Time().Unix() != now.Unix()+120 || len(got.ID) < 20 {
				t.Errorf("iat %v exp %v jti %q; want now, now+120 s, a random id", got.IssuedAt, got.Expiry, got.ID)
			}
			if f.up("X-Consumer-ID") != testConsumer.ID {
				t.Errorf("identity headers lost: X-Consumer-ID %q", f.up("X-Consumer-ID"))
			}
		})
	}
}

// TestUpstreamJWTSignedOncePerToken: the JWT is kept with the token's
// cache entry, re-signed only near its end, never past the opaque token's
// expiry, and a revoked or expired token gets none.
func TestUpstreamJWTSignedOncePerToken(t *testing.T) {
	v := newJWTEnv(t, newSigner(t, jwtkeys.TypeEd25519))
	c := v.config(`{"upstream_jwt":true,"upstream_jwt_ttl":100,"token_expiration":250}`)
	tok := str(v.issue(c), "access_token")
	issued := v.clock().Unix()
	jti := func() (string, int64) {
		t.Helper()
		f := v.proxy(c, tok)
		expectProxied(t, f)
		got, _ := verifyUpstream(t, v.e, f.up("Authorization"))
		return got.ID, got.Expiry.Time().Unix()
	}
	// The cache stops serving when its change feed was last read more
	// than StaleIfError (60 s) ago on the test clock: read it as time goes.
	advance := func(d time.Duration) {
		for ; d > 0; d -= 30 * time.Second {
			v.advance(min(d, 30*time.Second))
			if err := v.st.(*store.Cached).Sync(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
	}
	first, exp := jti()
	advance(70 * time.Second)
	if again, _ := jti(); again != first {
		t.Error("a second request got a newly signed JWT: it must come from the token's cache entry")
	}
	advance(6 * time.Second) // 24 s left of 100: less than a quarter
	second, exp2 := jti()
	if second == first || exp2 <= exp {
		t.Errorf("a JWT near its end was sent again (jti %s, exp %d)", second, exp2)
	}
	advance(150 * time.Second) // 226 s after issue: the token ends at 250
	if _, exp3 := jti(); exp3 != issued+250 {
		t.Errorf("exp %d, want the opaque token's end %d", exp3, issued+250)
	}

	advance(30 * time.Second)
	if f := v.proxy(c, tok); !f.exited || f.status != 401 || f.up("Authorization") != "<untouched>" {
		t.Errorf("expired token: %d, upstream Authorization %q; want 401 and no JWT", f.status, f.up("Authorization"))
	}

	tok2 := str(v.issue(c), "access_token")
	expectProxied(t, v.proxy(c, tok2))
	if _, err := v.st.Revoke(t.Context(), store.Revocation{Access: new(store.DigestOf(tok2))}); err != nil {
		t.Fatal(err)
	}
	if f := v.proxy(c, tok2); !f.exited || f.status != 401 {
		t.Errorf("revoked token: %d, want 401 (and no JWT)", f.status)
	}
}

// TestUpstreamJWTHeaderIsOurs: with upstream_jwt the header carries our
// JWT or nothing: a JWT the client put there (forged, or one of ours
// replayed) never reaches the upstream, whatever path lets it through.
func TestUpstreamJWTHeaderIsOurs(t *testing.T) {
	v := newJWTEnv(t, newSigner(t, jwtkeys.TypeEd25519))
	forged := "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9."
	anon := v.config(`{"upstream_jwt":true,"anonymous":"` + testConsumer.ID + `"}`)
	custom := v.config(`{"upstream_jwt":true,"upstream_jwt_header":"x-upstream-jwt"}`)
	hide := v.config(`{"upstream_jwt":true,"hide_credentials":true}`)
	tok := str(v.issue(custom), "access_token")
	for _, tc := range []struct {
		name   string
		c      *Config
		header map[string]string
		other  bool // another plugin authenticated
		want   map[string]string
	}{
		{"anonymous: a JWT as the token", anon, map[string]string{"authorization": forged},
			false, map[string]string{"Authorization": "<cleared>"}},
		{"anonymous: another plugin authenticated", anon, map[string]string{"authorization": forged},
			true, map[string]string{"Authorization": "<cleared>"}},
		{"own header: the client's copy replaced", custom, map[string]string{"authorization": "Bearer " + tok, "x-upstream-jwt": forged},
			false, map[string]string{"Authorization": "<untouched>", "X-Upstream-Jwt": "jwt"}},
		{"hide_credentials: the opaque token replaced by the JWT", hide, map[string]string{"authorization": "Bearer " + tok},
			false, map[string]string{"Authorization": "jwt"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v.use(t)
			f := v.apiRequest("GET", "", tc.header, "", "")
			f.hasCredential = tc.other
			access(tc.c, f)
			if f.exited {
				t.Fatalf("answered %d %s", f.status, f.respBody)
			}
			for h, want := range tc.want {
				got := f.up(h)
				if want == "jwt" {
					verifyUpstream(t, v.e, got)
					continue
				}
				if got != want {
					t.Errorf("upstream %s = %q, want %s", h, got, want)
				}
			}
		})
	}
}

func TestUpstreamJWTConfig(t *testing.T) {
	v := newJWTEnv(t, newSigner(t, jwtkeys.TypeEd25519))
	bare := newEnv(t)
	for _, tc := range []struct {
		v      *env
		config string
		field  string
	}{
		{bare, `{"upstream_jwt":true}`, "upstream_jwt: the server has no signing key"},
		{v, `{"upstream_jwt":true,"upstream_jwt_ttl":0}`, "upstream_jwt_ttl"},
		{v, `{"upstream_jwt":true,"upstream_jwt_ttl":86401}`, "upstream_jwt_ttl"},
		{v, `{"upstream_jwt":true,"upstream_jwt_header":"x jwt"}`, "upstream_jwt_header"},
		{v, `{"upstream_jwt":true,"upstream_jwt_header":"X-Consumer-Username"}`, "upstream_jwt_header"},
	} {
		f := tc.v.kong()
		f.path = "/api"
		access(tc.v.config(tc.config), f)
		if m := f.json(); f.status != 500 || !strings.Contains(str(m, "message"), tc.field) {
			t.Errorf("%s: %d %v, want 500 naming %s", tc.config, f.status, m, tc.field)
		}
	}
	// Off by default: no signing key needed, nothing signed.
	c := bare.config("")
	f := bare.proxy(c, str(bare.issue(c), "access_token"))
	if expectProxied(t, f); f.up("Authorization") != "<untouched>" {
		t.Errorf("upstream_jwt off: Authorization %q", f.up("Authorization"))
	}
}

// TestKongJWKSEndpoint: <route>/oauth2/jwks publishes every key; a
// server without keys leaves the path to the upstream, as before.
func TestKongJWKSEndpoint(t *testing.T) {
	s := newSigner(t, jwtkeys.TypeEd25519, jwtkeys.TypeES256)
	v := newJWTEnv(t, s)
	c := v.config("")
	f := v.kong()
	f.path = "/orders/oauth2/jwks"
	access(c, f)
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(f.respBody, &set); f.status != 200 || err != nil || len(set.Keys) != 2 {
		t.Fatalf("GET jwks: %d %s (%v)", f.status, f.respBody, err)
	}
	for i, k := range set.Keys {
		if k.KeyID != s.Keys()[i].KID() || !k.IsPublic() || k.Use != "sig" {
			t.Errorf("key %d: kid %q public %v use %q", i, k.KeyID, k.IsPublic(), k.Use)
		}
	}
	if cc := f.respHeader("Cache-Control"); cc != "public, max-age=300" || f.respHeader("Content-Type") != "application/jwk-set+json" {
		t.Errorf("Cache-Control %q, Content-Type %q", cc, f.respHeader("Content-Type"))
	}
	f = v.kong()
	f.method, f.path = "POST", "/oauth2/jwks"
	access(c, f)
	if f.status != 405 || f.respHeader("Allow") != "GET, HEAD" {
		t.Errorf("POST jwks: %d Allow %q", f.status, f.respHeader("Allow"))
	}

	bare := newEnv(t)
	f = bare.kong()
	f.path = "/oauth2/jwks"
	access(bare.config(""), f)
	if f.status != 401 {
		t.Errorf("no keys: %d, want the path validated as any other (401)", f.status)
	}
}

// TestUpstreamJWTFollowsTheConsumer: a consumer renamed in Kong (its
// cache entry refreshed) is in the next JWT's claims, as in the
// X-Consumer-* headers, though the JWT itself had years left.
func TestUpstreamJWTFollowsTheConsumer(t *testing.T) {
	v := newEnvOpts(t, nil, func(o *Options) { o.Signer = newSigner(t, jwtkeys.TypeEd25519); o.ConsumerTTL = time.Millisecond })
	c := v.config(`{"upstream_jwt":true,"upstream_jwt_ttl":300}`)
	tok := str(v.issue(c), "access_token")
	expectProxied(t, v.proxy(c, tok))
	renamed := testConsumer
	renamed.Username, renamed.CustomID = "renamed-user", "new-custom"
	var f *fakeKong
	// Until the consumer's cache entry (1 ms) has been refreshed.
	for deadline := time.Now().Add(5 * time.Second); ; {
		f = v.kong()
		f.consumers[testConsumer.ID], f.consumers[testConsumer.Username] = renamed, renamed
		f.path = "/api/things"
		f.headers["authorization"] = []string{"Bearer " + tok}
		access(c, f)
		expectProxied(t, f)
		if f.up("X-Consumer-Username") == "renamed-user" || time.Now().After(deadline) {
			break
		}
	}
	got, _ := verifyUpstream(t, v.e, f.up("Authorization"))
	if f.up("X-Consumer-Username") != "renamed-user" || got.ConsumerUsername != "renamed-user" || got.ConsumerCustomID != "new-custom" {
		t.Errorf("after the rename: header %q, claims %q / %q; want renamed-user / new-custom in both",
			f.up("X-Consumer-Username"), got.ConsumerUsername, got.ConsumerCustomID)
	}
}

// TestUpstreamJWTInTheTokensLastSecond: the opaque token is accepted
// through the second issued_at + expires_in; the JWT sent then still
// verifies strictly (no leeway) and is reused, not signed per request.
func TestUpstreamJWTInTheTokensLastSecond(t *testing.T) {
	v := newJWTEnv(t, newSigner(t, jwtkeys.TypeEd25519))
	c := v.config(`{"upstream_jwt":true,"upstream_jwt_ttl":300,"token_expiration":20}`)
	tok := str(v.issue(c), "access_token")
	expectProxied(t, v.proxy(c, tok))
	v.advance(20 * time.Second)
	var jtis []string
	for range 2 {
		f := v.proxy(c, tok)
		expectProxied(t, f)
		got, _ := verifyUpstream(t, v.e, f.up("Authorization"))
		if err := got.ValidateWithLeeway(jwt.Expected{Issuer: testIssuer, AnyAudience: jwt.Audience{testService}, Time: v.clock()}, 0); err != nil {
			t.Errorf("the JWT sent in the token's last second: %v", err)
		}
		jtis = append(jtis, got.ID)
	}
	if jtis[0] != jtis[1] {
		t.Error("the JWT was signed anew for each request of the last second")
	}
}
