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
		jsonBody       map[string]any // passwordJSON extras; sent as JSON when set
		wantCode, desc string
		wantScope      string // on success, as forwarded upstream
	}{
		{"wrong provision_key", optional, passwordForm("provision_key", "nope"), nil, "invalid_provision_key", "Invalid provision_key", ""},
		{"provision_key prefix", optional, passwordForm("provision_key", testProvisionKey[:5]), nil, "invalid_provision_key", "Invalid provision_key", ""},
		{"missing provision_key", optional, passwordForm("provision_key", "<del>"), nil, "invalid_provision_key", "Invalid provision_key", ""},
		{"missing userid", optional, passwordForm("authenticated_userid", "<del>"), nil, "invalid_authenticated_userid", "Missing authenticated_userid parameter", ""},
		{"blank userid", optional, passwordForm("authenticated_userid", " \t "), nil, "invalid_authenticated_userid", "Missing authenticated_userid parameter", ""},
		{"userid not UTF-8", optional, passwordForm("authenticated_userid", "caf\xe9"), nil, "invalid_authenticated_userid", "authenticated_userid must be printable UTF-8", ""},
		{"userid with CR LF", optional, passwordForm("authenticated_userid", "bob\r\nX-Consumer-ID: admin"), nil, "invalid_authenticated_userid", "authenticated_userid must be printable UTF-8", ""},
		{"userid in Unicode", optional, passwordForm("authenticated_userid", "José Müller\t42"), nil, "", "", "email"},
		{"userid with NUL", optional, passwordForm("authenticated_userid", "bob\x00"), nil, "invalid_authenticated_userid", "authenticated_userid must be printable UTF-8", ""},
		{"unknown scope", optional, passwordForm("scope", "email admin"), nil, "invalid_scope", `"admin" is an invalid scope`, ""},
		{"scope not a string", optional, nil, map[string]any{"scope": []string{"email"}}, "invalid_scope", "scope must be a string", ""},
		// Kong tests `scope ~= nil`: false and null are present, non-string scopes.
		{"scope false", optional, nil, map[string]any{"scope": false}, "invalid_scope", "scope must be a string", ""},
		{"scope false, mandatory", mandatory, nil, map[string]any{"scope": false}, "invalid_scope", "scope must be a string", ""},
		{"scope null", optional, nil, map[string]any{"scope": jsonNull}, "invalid_scope", "scope must be a string", ""},
		{"scope number", optional, nil, map[string]any{"scope": 1}, "invalid_scope", "scope must be a string", ""},
		{"scope true (as a bare query argument is)", optional, nil, map[string]any{"scope": true}, "invalid_scope", "scope must be a string", ""},
		{"no scopes configured: non-string scope dropped", noScopes, nil, map[string]any{"scope": false}, "", "", "<cleared>"},
		{"first invalid item named", optional, passwordForm("scope", "admin root"), nil, "invalid_scope", `"admin" is an invalid scope`, ""},
		{"scope items are case-sensitive", optional, passwordForm("scope", "Email"), nil, "invalid_scope", `"Email" is an invalid scope`, ""},
		{"duplicates kept, in request order", optional, passwordForm("scope", "profile email profile"), nil, "", "", "profile email profile"},
		{"split on any Lua whitespace", optional, passwordForm("scope", "\temail\n\vprofile\f\r"), nil, "", "", "email profile"},
		{"optional scope empty", optional, passwordForm("scope", ""), nil, "", "", "<cleared>"},
		{"provision_key longer", optional, passwordForm("provision_key", testProvisionKey+"x"), nil, "invalid_provision_key", "Invalid provision_key", ""},
		{"provision_key not a string", optional, nil, map[string]any{"provision_key": 1}, "invalid_provision_key", "Invalid provision_key", ""},
		{"userid of Lua whitespace only", optional, passwordForm("authenticated_userid", "\n\v\f\r"), nil, "invalid_authenticated_userid", "Missing authenticated_userid parameter", ""},
		{"userid empty", optional, passwordForm("authenticated_userid", ""), nil, "invalid_authenticated_userid", "Missing authenticated_userid parameter", ""},
		{"mandatory scope absent", mandatory, passwordForm("scope", "<del>"), nil, "invalid_scope", "You must specify a scope", ""},
		// §9 deviation: Kong lets scope="" through.
		{"mandatory scope empty", mandatory, passwordForm("scope", ""), nil, "invalid_scope", "You must specify a scope", ""},
		{"mandatory scope blank", mandatory, passwordForm("scope", "   "), nil, "invalid_scope", "You must specify a scope", ""},
		{"scopes joined by one space", mandatory, passwordForm("scope", " email   profile "), nil, "", "", "email profile"},
		{"optional scope absent", optional, passwordForm("scope", "<del>"), nil, "", "", "<cleared>"},
		{"no scopes configured: scope dropped", noScopes, passwordForm("scope", "anything"), nil, "", "", "<cleared>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v.use(t)
			var f *fakeKong
			if tc.jsonBody != nil {
				f = v.jsonTokenReq(passwordJSON(tc.jsonBody))
			} else {
				f = v.tokenReq(tc.form)
			}
			access(tc.conf, f)
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
	access(c, f)
	if f.status != 500 {
		t.Fatalf("got %d %s, want 500", f.status, f.respBody)
	}
	// With a service, the route plugin mints tokens for that service.
	m := v.issue(c)
	expectProxied(t, v.proxy(v.config(""), str(m, "access_token")))
}
