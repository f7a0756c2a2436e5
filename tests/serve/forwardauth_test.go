package serve

import (
	"strings"
	"testing"

	"github.com/oauth2-password/oauth2-password/tests/harness"
)

// TestForwardAuth is /services/SERVICE/auth as nginx auth_request, Caddy
// forward_auth and Traefik ForwardAuth call it: the client's headers, the
// original request in X-Forwarded-Method/-Uri or X-Original-URI.
func TestForwardAuth(t *testing.T) {
	db := harness.SQLiteURL(t)
	c := harness.CreateClient(t, db, "bob", "web")
	s := harness.StartServeTLS(t, db, harness.ServeConfig(
		"  orders:\n    provision_key: \""+provisionKey+"\"\n    realm: shop",
		"  billing:\n    provision_key: \""+provisionKey+"\"",
		"  shared-a:\n    provision_key: \""+provisionKey+"\"\n    global_credentials: true",
		"  shared-b:\n    provision_key: \""+provisionKey+"\"\n    global_credentials: true",
		"  open:\n    provision_key: \""+provisionKey+"\"\n    anonymous: guest",
	))
	tok := grant(t, s, "orders", c, "user-1", "").Access
	global := grant(t, s, "shared-a", c, "user-2", "").Access
	invalid := `Bearer error="invalid_token", error_description="The access token is invalid or has expired"`

	for _, tc := range []struct {
		name, service string
		header        []string
		status        int
		challenge     string            // WWW-Authenticate
		identity      map[string]string // headers of a 200
	}{
		{"valid token", "orders", []string{"Authorization", "Bearer " + tok}, 200, "",
			map[string]string{"X-Credential-Identifier": c.ID, "X-Authenticated-Userid": "user-1", "X-Consumer-Username": "bob", "X-Anonymous-Consumer": ""}},
		{"token scheme in any case", "orders", []string{"Authorization", "bearer " + tok}, 200, "", nil},
		{"no token", "orders", nil, 401, `Bearer realm="shop"`, nil},
		{"malformed header", "orders", []string{"Authorization", "Bearer"}, 401, `Bearer realm="shop", error="invalid_token", error_description="The access token is invalid or has expired"`, nil},
		{"unknown token", "billing", []string{"Authorization", "Bearer nope"}, 401, invalid, nil},
		{"token of another service", "billing", []string{"Authorization", "Bearer " + tok}, 401, invalid, nil},
		{"token in X-Forwarded-Uri", "orders", []string{"X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/orders/1?access_token=" + tok}, 200, "",
			map[string]string{"X-Authenticated-Userid": "user-1"}},
		{"token in X-Original-URI", "orders", []string{"X-Original-URI", "/orders/1?a=b&access_token=" + tok}, 200, "", nil},
		{"global token on another global service", "shared-b", []string{"Authorization", "Bearer " + global}, 200, "",
			map[string]string{"X-Authenticated-Userid": "user-2"}},
		{"global token on a service without global_credentials", "billing", []string{"Authorization", "Bearer " + global}, 401,
			`Bearer error="invalid_token", error_description="The access token is invalid or has expired"`, nil},
		{"anonymous", "open", []string{"Authorization", "Bearer nope"}, 200, "",
			map[string]string{"X-Anonymous-Consumer": "true", "X-Consumer-Username": "guest", "X-Credential-Identifier": ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := get(t, s, "/services/"+tc.service+"/auth", tc.header...)
			if a.status != tc.status {
				t.Fatalf("%d %s %v, want %d", a.status, a.body, a.header, tc.status)
			}
			if got := a.header.Get("WWW-Authenticate"); got != tc.challenge {
				t.Errorf("WWW-Authenticate %q, want %q", got, tc.challenge)
			}
			if tc.status != 200 && !strings.Contains(string(a.body), `"error"`) && tc.challenge != `Bearer realm="shop"` {
				t.Errorf("denial body %s", a.body)
			}
			for h, want := range tc.identity {
				if got := a.header.Get(h); got != want {
					t.Errorf("%s = %q, want %q", h, got, want)
				}
			}
		})
	}
}

// TestForwardAuthIgnoresSpoofedIdentity: identity headers the client sent
// are not echoed as if they were ours: the answer carries only what the
// token says.
func TestForwardAuthIgnoresSpoofedIdentity(t *testing.T) {
	db := harness.SQLiteURL(t)
	c := harness.CreateClient(t, db, "bob", "web")
	s := harness.StartServeTLS(t, db, ordersConfig)
	tok := grant(t, s, "orders", c, "user-1", "").Access
	a := get(t, s, "/services/orders/auth", "Authorization", "Bearer "+tok,
		"X-Consumer-Username", "admin", "X-Authenticated-Userid", "root", "X-Authenticated-Scope", "all")
	if a.status != 200 || a.header.Get("X-Consumer-Username") != "bob" || a.header.Get("X-Authenticated-Userid") != "user-1" ||
		a.header.Get("X-Authenticated-Scope") != "" {
		t.Errorf("%d %v", a.status, a.header)
	}
}
