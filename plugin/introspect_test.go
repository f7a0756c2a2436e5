package plugin

import (
	"encoding/json"
	"net/url"
	"testing"
	"time"
)

func (v *env) introspect(c *Config, form url.Values) *fakeKong {
	return v.clientPost(c, "/oauth2/introspect", form)
}

func expectInactive(t *testing.T, f *fakeKong) {
	t.Helper()
	if f.status != 200 || string(f.respBody) != `{"active":false}` {
		t.Errorf("got %d %s, want {\"active\":false}", f.status, f.respBody)
	}
}

func TestIntrospectActiveAccessToken(t *testing.T) {
	v := newEnv(t)
	c := v.config("")
	m := v.issue(c, "scope", "email profile")
	f := v.introspect(c, url.Values{"token": {str(m, "access_token")}, "token_type_hint": {"access_token"}})
	var got map[string]any
	if err := json.Unmarshal(f.respBody, &got); err != nil || f.status != 200 {
		t.Fatalf("%d %s", f.status, f.respBody)
	}
	iat := float64(v.clock().Unix())
	// RFC 7662 §2.2's members, with our values.
	want := map[string]any{"active": true, "scope": "email profile", "client_id": "app", "username": "alice",
		"token_type": "bearer", "exp": iat + 7200, "iat": iat, "sub": "user-1"}
	if len(got) != len(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %v, want %v", k, got[k], w)
		}
	}
	if f.respHeader("Cache-Control") != "no-store" {
		t.Errorf("headers %v", f.respHeaders)
	}
}

func TestIntrospectRefreshToken(t *testing.T) {
	v := newEnv(t)
	c := v.config("")
	m := v.issue(c)
	f := v.introspect(c, url.Values{"token": {str(m, "refresh_token")}, "token_type_hint": {"refresh_token"}})
	var got map[string]any
	_ = json.Unmarshal(f.respBody, &got)
	if got["active"] != true || got["token_type"] != nil || got["exp"] != float64(v.clock().Unix()+1209600) {
		t.Errorf("refresh token introspection: %s", f.respBody)
	}
}

func TestIntrospectInactive(t *testing.T) {
	v := newEnv(t)
	c := v.config("")
	other := v.config(`{"service_id":"svc-2"}`)
	tok := str(v.issue(c), "access_token")
	expectInactive(t, v.introspect(c, url.Values{"token": {"no-such-token"}}))
	expectInactive(t, v.introspect(other, url.Values{"token": {tok}}))

	expired := str(v.issue(c), "access_token")
	v.advance(7201 * time.Second)
	expectInactive(t, v.introspect(c, url.Values{"token": {expired}}))

	revoked := str(v.issue(c), "access_token")
	expectRevokedAnswer(t, v.revoke(c, url.Values{"token": {revoked}}))
	expectInactive(t, v.introspect(c, url.Values{"token": {revoked}}))
}

func TestIntrospectRefusals(t *testing.T) {
	v := newEnv(t)
	c := v.config("")
	tok := str(v.issue(c), "access_token")
	v.introspect(c, url.Values{"token": {tok}, "client_id": {"pub"}}).
		expectError(400, "unauthorized_client", descPublicIntrospect)
	v.introspect(c, url.Values{"token": {tok}, "client_id": {"app"}, "client_secret": {"wrong"}}).
		expectError(400, "invalid_client", "Invalid client authentication")
	v.introspect(c, url.Values{}).expectError(400, "invalid_request", descMissingTokenParam)
	f := v.kong()
	f.method, f.path, f.scheme = "POST", "/oauth2/introspect", "http"
	access(c, f)
	f.expectError(400, "access_denied", "You must use HTTPS")
}
