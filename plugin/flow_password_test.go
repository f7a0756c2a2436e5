package plugin

import (
	"net/url"
	"testing"
)

func TestPasswordGrantChecks(t *testing.T) {
	v := newEnv(t)
	mandatory := v.config(`{"mandatory_scope":true}`)
	optional := v.config("")
	noScopes := v.config(`{"scopes":null}`)
	for _, tc := range []struct {
		name           string
		conf           *Config
		form           url.Values
		jsonBody       string
		wantCode, desc string
		wantScope      string // on success, as forwarded upstream
	}{
		{"wrong provision_key", optional, passwordForm("provision_key", "nope"), "", "invalid_provision_key", "Invalid provision_key", ""},
		{"provision_key prefix", optional, passwordForm("provision_key", testProvisionKey[:5]), "", "invalid_provision_key", "Invalid provision_key", ""},
		{"missing provision_key", optional, passwordForm("provision_key", "<del>"), "", "invalid_provision_key", "Invalid provision_key", ""},
		{"missing userid", optional, passwordForm("authenticated_userid", "<del>"), "", "invalid_authenticated_userid", "Missing authenticated_userid parameter", ""},
		{"blank userid", optional, passwordForm("authenticated_userid", " \t "), "", "invalid_authenticated_userid", "Missing authenticated_userid parameter", ""},
		{"unknown scope", optional, passwordForm("scope", "email admin"), "", "invalid_scope", `"admin" is an invalid scope`, ""},
		{"scope not a string", optional, nil, `{"grant_type":"password","client_id":"app","client_secret":"` + testSecret + `","provision_key":"` + testProvisionKey + `","authenticated_userid":"u","scope":["email"]}`, "invalid_scope", "scope must be a string", ""},
		{"mandatory scope absent", mandatory, passwordForm("scope", "<del>"), "", "invalid_scope", "You must specify a scope", ""},
		// §9 deviation: Kong lets scope="" through.
		{"mandatory scope empty", mandatory, passwordForm("scope", ""), "", "invalid_scope", "You must specify a scope", ""},
		{"mandatory scope blank", mandatory, passwordForm("scope", "   "), "", "invalid_scope", "You must specify a scope", ""},
		{"scopes joined by one space", mandatory, passwordForm("scope", " email   profile "), "", "", "", "email profile"},
		{"optional scope absent", optional, passwordForm("scope", "<del>"), "", "", "", "<cleared>"},
		{"no scopes configured: scope dropped", noScopes, passwordForm("scope", "anything"), "", "", "", "<cleared>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f *fakeKong
			if tc.jsonBody != "" {
				f = v.tokenReq(nil)
				f.headers["content-type"] = []string{"application/json"}
				f.body = []byte(tc.jsonBody)
			} else {
				f = v.tokenReq(tc.form)
			}
			tc.conf.Access(f)
			if tc.wantCode != "" {
				f.expectError(400, tc.wantCode, tc.desc)
				return
			}
			m := f.json()
			if f.status != 200 {
				t.Fatalf("got %d %v", f.status, m)
			}
			p := v.proxy(tc.conf, str(m, "access_token"))
			expectProxied(t, p)
			if got := p.up(hAuthenticatedScope); got != tc.wantScope {
				t.Errorf("X-Authenticated-Scope = %q, want %q", got, tc.wantScope)
			}
		})
	}
}

func TestPasswordGrantKeepsUseridUnstripped(t *testing.T) {
	v := newEnv(t)
	c := v.config("")
	m := v.issue(c, "authenticated_userid", " bob ")
	p := v.proxy(c, str(m, "access_token"))
	expectProxied(t, p)
	if got := p.up(hAuthenticatedUserID); got != " bob " {
		t.Errorf("X-Authenticated-Userid = %q", got)
	}
}

func TestTokenExpirationZero(t *testing.T) {
	v := newEnv(t)
	c := v.config(`{"token_expiration":0}`)
	m := v.issue(c)
	if _, ok := m["expires_in"]; ok {
		t.Errorf("expires_in present: %v", m)
	}
	if _, ok := m["refresh_token"]; ok {
		t.Errorf("refresh_token issued for a token that never expires: %v", m)
	}
	v.advance(10 * 365 * 24 * 3600 * 1e9)
	expectProxied(t, v.proxy(c, str(m, "access_token")))
}

func TestRefreshTTLZeroNeverExpires(t *testing.T) {
	v := newEnv(t)
	c := v.config(`{"refresh_token_ttl":0, "token_expiration":1}`)
	m := v.issue(c)
	v.advance(5 * 365 * 24 * 3600 * 1e9)
	if f := v.refresh(c, str(m, "refresh_token")); f.status != 200 {
		t.Errorf("refresh after 5 years with ttl 0: %d %s", f.status, f.respBody)
	}
}

func TestServicelessRouteDoesNotMintGlobalTokens(t *testing.T) {
	v := newEnv(t)
	c := v.config(`{"service_id":null}`)
	f := v.tokenReq(passwordForm())
	f.serviceID = "" // a route without a service
	c.Access(f)
	if f.status != 500 {
		t.Fatalf("got %d %s, want 500", f.status, f.respBody)
	}
	// With a service, the route plugin mints tokens for that service.
	m := v.issue(c)
	expectProxied(t, v.proxy(v.config(""), str(m, "access_token")))
}
