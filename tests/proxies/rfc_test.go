package proxies

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// testRevokeIntrospect sends the requests of the RFCs' own examples
// through the proxy: RFC 7662 §2.1 (introspection with HTTP Basic client
// authentication, answer as in §2.2) and RFC 7009 §2.1 (revocation of a
// refresh token with token_type_hint, which revokes its grant: §2.1 "the
// authorization server ... SHOULD also invalidate all access tokens based
// on the same authorization grant").
func testRevokeIntrospect(t *testing.T, p *proxy, b *backend) {
	tr := p.mustToken(t, b.bob, "user-i", "orders.read")
	a := p.post(t, "/oauth2/introspect", b.bob, url.Values{"token": {tr.AccessToken}})
	if a.status != 200 {
		t.Fatalf("%s: introspect: %d %s", p.name, a.status, a.body)
	}
	m := a.jsonBody(t)
	want := map[string]any{"active": true, "scope": "orders.read", "client_id": b.bob.ID, "username": "bob",
		"token_type": "bearer", "sub": "user-i"}
	for k, w := range want {
		if m[k] != w {
			t.Errorf("%s: introspect %s = %v, want %v (%s)", p.name, k, m[k], w, a.body)
		}
	}
	exp, _ := m["exp"].(float64)
	iat, _ := m["iat"].(float64)
	if exp-iat != 7200 || time.Since(time.Unix(int64(iat), 0)) > time.Minute {
		t.Errorf("%s: introspect iat %v exp %v, want a token issued now for 7200 s", p.name, iat, exp)
	}

	a = p.post(t, "/oauth2/revoke", b.bob, url.Values{"token": {tr.RefreshToken}, "token_type_hint": {"refresh_token"}})
	if a.status != 200 {
		t.Fatalf("%s: revoke: %d %s", p.name, a.status, a.body)
	}
	a = p.post(t, "/oauth2/introspect", b.bob, url.Values{"token": {tr.AccessToken}, "token_type_hint": {"access_token"}})
	if m := a.jsonBody(t); a.status != 200 || len(m) != 1 || m["active"] != false {
		t.Errorf("%s: introspect after revoking the grant: %d %s, want {\"active\":false}", p.name, a.status, a.body)
	}
	waitStatus(t, p, "/orders/after-revoke", tr.AccessToken, 401, 10*time.Second)

	// RFC 7009 §2.2: an invalid token is no error.
	if a := p.post(t, "/oauth2/revoke", b.bob, url.Values{"token": {"no-such-token"}}); a.status != 200 {
		t.Errorf("%s: revoking an unknown token: %d %s, want 200", p.name, a.status, a.body)
	}
	// RFC 7009 §2.1 / RFC 6749 §5.2: a wrong client secret is refused.
	wrong := b.bob
	wrong.Secret = "wrong-secret"
	if a := p.post(t, "/oauth2/revoke", wrong, url.Values{"token": {"x"}}); a.status != 401 || a.jsonBody(t)["error"] != "invalid_client" {
		t.Errorf("%s: revoke with a wrong secret: %d %s, want 401 invalid_client", p.name, a.status, a.body)
	}
}

// testOAuth2Library drives the token endpoint through the proxy with
// golang.org/x/oauth2, as a Go client would.
func testOAuth2Library(t *testing.T, p *proxy, b *backend) {
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, p.hc)
	conf := &oauth2.Config{ClientID: b.bob.ID, ClientSecret: b.bob.Secret, Scopes: []string{"orders.read"},
		Endpoint: oauth2.Endpoint{TokenURL: p.url + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}}

	// PasswordCredentialsToken sends username and password, and cannot add
	// the provision_key this grant requires (README: the login backend
	// posts the form itself): the library reports the RFC 6749 error.
	_, err := conf.PasswordCredentialsToken(ctx, "user-42", "a password")
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response.StatusCode != 400 || re.ErrorCode != "invalid_provision_key" {
		t.Errorf("%s: PasswordCredentialsToken: %v, want a 400 invalid_provision_key RetrieveError", p.name, err)
	}

	// An expired oauth2.Token makes the library refresh it (RFC 6749 §6),
	// with the client in a Basic header.
	first := p.mustToken(t, b.bob, "user-lib", "orders.read")
	ts := conf.TokenSource(ctx, &oauth2.Token{AccessToken: first.AccessToken, RefreshToken: first.RefreshToken,
		TokenType: first.TokenType, Expiry: time.Now().Add(-time.Minute)})
	next, err := ts.Token()
	if err != nil {
		t.Fatalf("%s: refresh through golang.org/x/oauth2: %v", p.name, err)
	}
	if next.AccessToken == first.AccessToken || next.RefreshToken == "" || next.RefreshToken == first.RefreshToken {
		t.Fatalf("%s: the refresh returned the same tokens or no refresh token", p.name)
	}
	// The library's client calls the API with the new token.
	resp, err := oauth2.NewClient(ctx, ts).Get(p.url + "/orders/lib")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !b.api.reached("/orders/lib") {
		t.Errorf("%s: call with the refreshed token: %d", p.name, resp.StatusCode)
	}
	// The refreshed-away token is gone.
	waitStatus(t, p, "/orders/lib-old", first.AccessToken, 401, 10*time.Second)
}
