package plugin

import (
	"net/url"
	"testing"
)

// clientForm is a POST of form to path with the app client's credentials.
func (v *env) clientPost(c *Config, path string, form url.Values) *fakeKong {
	f := v.kong()
	f.method, f.path = "POST", path
	f.headers["content-type"] = []string{"application/x-www-form-urlencoded"}
	if form.Get("client_id") == "" {
		form.Set("client_id", "app")
		form.Set("client_secret", testSecret)
	}
	f.body = []byte(form.Encode())
	access(c, f)
	return f
}

func (v *env) revoke(c *Config, form url.Values) *fakeKong {
	return v.clientPost(c, "/api/oauth2/revoke", form)
}

func expectRevokedAnswer(t *testing.T, f *fakeKong) {
	t.Helper()
	if f.status != 200 || len(f.respBody) != 0 || f.respHeader("Cache-Control") != "no-store" {
		t.Errorf("got %d %q %v, want 200 with no body", f.status, f.respBody, f.respHeaders)
	}
}

func TestRevokeAccessToken(t *testing.T) {
	v := newEnv(t)
	c := v.config("")
	m := v.issue(c)
	expectRevokedAnswer(t, v.revoke(c, url.Values{"token": {str(m, "access_token")}}))
	v.proxy(c, str(m, "access_token")).expectError(401, "invalid_token", "The access token is invalid or has expired")
	// The row holding the access token holds its refresh token too
	// (RFC 7009 §2.1 lets the server revoke both).
	v.refresh(c, str(m, "refresh_token")).expectError(400, "invalid_request", "Invalid refresh_token")
}

func TestRevokeRefreshTokenRevokesTheGrant(t *testing.T) {
	v := newEnv(t)
	c := v.config("")
	m := v.issue(c)
	r := v.refresh(c, str(m, "refresh_token"))
	next := r.json()
	// RFC 7009 §2.1's example: Basic client authentication and a hint.
	f := v.kong()
	f.method, f.path = "POST", "/oauth2/revoke"
	f.headers["content-type"] = []string{"application/x-www-form-urlencoded"}
	f.headers["authorization"] = []string{basic("app", testSecret)}
	f.body = []byte(url.Values{"token": {str(next, "refresh_token")}, "token_type_hint": {"refresh_token"}}.Encode())
	access(c, f)
	expectRevokedAnswer(t, f)
	v.proxy(c, str(next, "access_token")).expectError(401, "invalid_token", "The access token is invalid or has expired")
	v.refresh(c, str(next, "refresh_token")).expectError(400, "invalid_request", "Invalid refresh_token")
}

func TestRevokeAnswers(t *testing.T) {
	v := newEnv(t)
	c := v.config("")
	other := v.config(`{"service_id":"svc-2"}`)
	v.client("app2", testSecret, testConsumer.ID, "confidential")
	tok := str(v.issue(c), "access_token")
	for _, tc := range []struct {
		name         string
		conf         *Config
		form         url.Values
		status       int
		code, desc   string
		stillWorking bool
	}{
		{"unknown token", c, url.Values{"token": {"no-such-token"}}, 200, "", "", true},
		{"token of another service", other, url.Values{"token": {tok}}, 200, "", "", true},
		{"missing token", c, url.Values{}, 400, "invalid_request", descMissingTokenParam, true},
		{"wrong secret", c, url.Values{"token": {tok}, "client_id": {"app"}, "client_secret": {"nope"}}, 400, "invalid_client", "Invalid client authentication", true},
		{"another client's token", c, url.Values{"token": {tok}, "client_id": {"app2"}, "client_secret": {testSecret}}, 400, "unauthorized_client", descNotYourToken, true},
		// Last: it revokes the token.
		{"wrong hint is only a hint", c, url.Values{"token": {tok}, "token_type_hint": {"refresh_token"}}, 200, "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v.use(t)
			f := v.revoke(tc.conf, tc.form)
			if tc.status == 200 {
				expectRevokedAnswer(t, f)
			} else {
				f.expectError(tc.status, tc.code, tc.desc)
			}
			p := v.proxy(c, tok)
			if tc.stillWorking {
				expectProxied(t, p)
			} else if p.status != 401 {
				t.Errorf("token still valid after revocation: %d", p.status)
			}
		})
	}
}

func TestRevokeAndIntrospectRejectOtherMethods(t *testing.T) {
	v := newEnv(t)
	c := v.config("")
	for _, path := range []string{"/oauth2/revoke", "/x/oauth2/introspect/"} {
		f := v.kong()
		f.path = path
		access(c, f)
		if f.status != 405 || f.json()["error"] != "invalid_method" || f.respHeader("Allow") != "POST" {
			t.Errorf("GET %s: %d %s %v, want 405 invalid_method with Allow: POST", path, f.status, f.respBody, f.respHeaders)
		}
	}
}

func TestRevokeStoreDown(t *testing.T) {
	v := newEnvWith(t, func(s Store) Store { return blockingStore{s} })
	f := v.revoke(v.config(""), url.Values{"token": {"whatever"}})
	f.expectError(503, "temporarily_unavailable", "The authorization server is temporarily unavailable")
}
