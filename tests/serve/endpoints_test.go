package serve

import (
	"context"
	"encoding/base64"
	"net/url"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/oauth2-password/oauth2-password/tests/harness"
)

// TestTokenRefreshFlow: the password grant over HTTPS, then
// golang.org/x/oauth2 refreshing with Basic client credentials; the old
// access token stops working and the new one passes forward auth with the
// identity of the grant.
func TestTokenRefreshFlow(t *testing.T) {
	db := harness.SQLiteURL(t)
	c := harness.CreateClient(t, db, "bob", "web")
	s := harness.StartServeTLS(t, db, ordersConfig)
	first := grant(t, s, "orders", c, "user-42", "email profile")
	if first.Type != "bearer" || first.Expires != 7200 || first.Refresh == "" {
		t.Fatalf("token answer %+v", first)
	}

	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, s.Client)
	conf := &oauth2.Config{ClientID: c.ID, ClientSecret: c.Secret, Endpoint: oauth2.Endpoint{
		TokenURL: s.URL + "/services/orders/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}}
	next, err := conf.TokenSource(ctx, &oauth2.Token{AccessToken: first.Access, RefreshToken: first.Refresh,
		Expiry: time.Now().Add(-time.Minute)}).Token()
	if err != nil {
		t.Fatalf("refresh through golang.org/x/oauth2: %v", err)
	}
	if next.AccessToken == first.Access || next.RefreshToken == first.Refresh {
		t.Fatal("refresh returned the old tokens")
	}

	if a := get(t, s, "/services/orders/auth", "Authorization", "Bearer "+first.Access); a.status != 401 {
		t.Errorf("old access token: %d %s", a.status, a.body)
	}
	a := get(t, s, "/services/orders/auth", "Authorization", "Bearer "+next.AccessToken)
	want := map[string]string{"X-Consumer-Id": harness.ConsumerID, "X-Consumer-Username": "bob", "X-Consumer-Custom-Id": "crm-17",
		"X-Credential-Identifier": c.ID, "X-Authenticated-Userid": "user-42", "X-Authenticated-Scope": "email profile"}
	if a.status != 200 {
		t.Fatalf("forward auth with the refreshed token: %d %s", a.status, a.body)
	}
	for h, w := range want {
		if got := a.header.Get(h); got != w {
			t.Errorf("%s = %q, want %q", h, got, w)
		}
	}
}

// TestRevokeAndIntrospect uses the request shapes of RFC 7662 §2.1 and
// RFC 7009 §2.1 (Basic client authentication, token_type_hint) and checks
// the answers against RFC 7662 §2.2 and RFC 7009 §2.2.
func TestRevokeAndIntrospect(t *testing.T) {
	db := harness.SQLiteURL(t)
	c := harness.CreateClient(t, db, "bob", "web")
	s := harness.StartServeTLS(t, db, ordersConfig)
	tk := grant(t, s, "orders", c, "user-7", "email")
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(c.ID+":"+c.Secret))

	a := post(t, s, "/services/orders/oauth2/introspect", url.Values{"token": {tk.Access}, "token_type_hint": {"access_token"}}, "Authorization", basic)
	m := a.json(t)
	if a.status != 200 || m["active"] != true || m["client_id"] != c.ID || m["username"] != "bob" || m["sub"] != "user-7" ||
		m["scope"] != "email" || m["token_type"] != "bearer" {
		t.Fatalf("introspection: %d %s", a.status, a.body)
	}
	exp, iat := m["exp"].(float64), m["iat"].(float64)
	if exp-iat != 7200 || time.Since(time.Unix(int64(iat), 0)) > time.Minute {
		t.Errorf("exp %v iat %v", exp, iat)
	}
	// The billing service's clients cannot see orders' tokens.
	if a := post(t, s, "/services/billing/oauth2/introspect", url.Values{"token": {tk.Access}}, "Authorization", basic); string(a.body) != `{"active":false}` {
		t.Errorf("introspection on another service: %d %s", a.status, a.body)
	}

	a = post(t, s, "/services/orders/oauth2/revoke", url.Values{"token": {tk.Refresh}, "token_type_hint": {"refresh_token"}}, "Authorization", basic)
	if a.status != 200 || len(a.body) != 0 {
		t.Fatalf("revocation: %d %s", a.status, a.body)
	}
	// Revoking the refresh token revoked the grant: its access token too.
	a = post(t, s, "/services/orders/oauth2/introspect", url.Values{"token": {tk.Access}}, "Authorization", basic)
	if a.status != 200 || string(a.body) != `{"active":false}` {
		t.Errorf("introspection after revocation: %d %s", a.status, a.body)
	}
	if a := get(t, s, "/services/orders/auth", "Authorization", "Bearer "+tk.Access); a.status != 401 {
		t.Errorf("revoked token passed forward auth: %d", a.status)
	}
	// An unknown token is revoked "successfully" (RFC 7009 §2.2).
	if a := post(t, s, "/services/orders/oauth2/revoke", url.Values{"token": {"never-issued"}}, "Authorization", basic); a.status != 200 {
		t.Errorf("unknown token: %d %s", a.status, a.body)
	}
	// Wrong credentials are invalid_client, 401 with the Basic challenge.
	a = post(t, s, "/services/orders/oauth2/revoke", url.Values{"token": {tk.Access}}, "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(c.ID+":wrong")))
	if a.status != 401 || a.json(t)["error"] != "invalid_client" || a.header.Get("WWW-Authenticate") != `Basic realm="OAuth2.0"` {
		t.Errorf("wrong secret: %d %v %s", a.status, a.header, a.body)
	}
}

// TestHTTPSRule: the client endpoints need HTTPS; behind a TLS-terminating
// proxy, X-Forwarded-Proto counts only from trusted_ips and only with
// accept_http_if_already_terminated, as in Kong mode.
func TestHTTPSRule(t *testing.T) {
	db := harness.SQLiteURL(t)
	c := harness.CreateClient(t, db, "bob", "web")
	s := harness.StartServe(t, db, harness.ServeConfig(
		"  plain:\n    provision_key: \""+provisionKey+"\"",
		"  terminated:\n    provision_key: \""+provisionKey+"\"\n    accept_http_if_already_terminated: true",
	))
	form := url.Values{"grant_type": {"password"}, "provision_key": {provisionKey}, "authenticated_userid": {"u"},
		"client_id": {c.ID}, "client_secret": {c.Secret}}
	for _, tc := range []struct {
		service, proto string
		status         int
	}{
		{"plain", "", 400},
		{"plain", "https", 400},
		{"terminated", "", 400},
		{"terminated", "https", 200},
	} {
		a := post(t, s, "/services/"+tc.service+"/oauth2/token", form, "X-Forwarded-Proto", tc.proto)
		if a.status != tc.status {
			t.Errorf("%s, X-Forwarded-Proto %q: %d %s, want %d", tc.service, tc.proto, a.status, a.body, tc.status)
		}
		if tc.status == 400 && a.json(t)["error_description"] != "You must use HTTPS" {
			t.Errorf("%s: %s", tc.service, a.body)
		}
	}
	if a := get(t, s, "/services/plain/oauth2/token"); a.status != 405 || a.json(t)["error"] != "invalid_method" {
		t.Errorf("GET token endpoint: %d %s", a.status, a.body)
	}
	if a := post(t, s, "/services/nope/oauth2/token", form); a.status != 404 || a.json(t)["error"] != "invalid_request" {
		t.Errorf("unknown service: %d %s", a.status, a.body)
	}
}
