package plugin

import (
	"context"
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/store"
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
	// RFC 7662 §2.3: bad credentials of the protected resource are 401,
	// wherever they were sent.
	f401 := v.introspect(c, url.Values{"token": {tok}, "client_id": {"app"}, "client_secret": {"wrong"}})
	f401.expectError(401, "invalid_client", "Invalid client authentication")
	if f401.respHeader("WWW-Authenticate") == "" {
		t.Errorf("401 without a challenge: %v", f401.respHeaders)
	}
	v.introspect(c, url.Values{"token": {tok}, "client_id": {"nobody"}, "client_secret": {"wrong"}}).
		expectError(401, "invalid_client", "Invalid client authentication")
	v.introspect(c, url.Values{}).expectError(400, "invalid_request", descMissingTokenParam)
	f := v.kong()
	f.method, f.path, f.scheme = "POST", "/oauth2/introspect", "http"
	access(c, f)
	f.expectError(400, "access_denied", "You must use HTTPS")
}

// TestIntrospectOnlyOwnTokensUnlessGranted: RFC 7662 §4. A client sees
// only the tokens issued to it; another client gets {"active":false}, as
// for an unknown token, until the operator grants it this service's
// tokens; a grant for another service is no grant here; withdrawn, it is
// gone.
func TestIntrospectOnlyOwnTokensUnlessGranted(t *testing.T) {
	v := newEnv(t)
	c := v.config("")
	v.client("rs", "rs-secret-0123456789abcdef", testConsumer.ID, store.Confidential)
	tok := str(v.issue(c), "access_token")
	asRS := url.Values{"token": {tok}, "client_id": {"rs"}, "client_secret": {"rs-secret-0123456789abcdef"}}
	active := func(f *fakeKong) bool {
		t.Helper()
		var got map[string]any
		if err := json.Unmarshal(f.respBody, &got); err != nil || f.status != 200 {
			t.Fatalf("%d %s", f.status, f.respBody)
		}
		return got["active"] == true
	}
	if !active(v.introspect(c, url.Values{"token": {tok}})) {
		t.Fatalf("the token's own client does not see it")
	}
	expectInactive(t, v.introspect(c, cloneValues(asRS)))

	grant := func(svc string, allow bool) {
		t.Helper()
		if err := v.st.SetIntrospection(context.Background(), "rs", svc, allow); err != nil {
			t.Fatal(err)
		}
	}
	grant("svc-2", true)
	expectInactive(t, v.introspect(c, cloneValues(asRS)))
	grant(testService, true)
	if !active(v.introspect(c, cloneValues(asRS))) {
		t.Errorf("a client granted %s does not see its tokens", testService)
	}
	// The grant covers this service's tokens only.
	other := v.config(`{"service_id":"svc-2"}`)
	expectInactive(t, v.introspect(other, cloneValues(asRS)))
	grant(testService, false)
	expectInactive(t, v.introspect(c, cloneValues(asRS)))
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}
