package plugin

import (
	"net/url"
	"testing"
	"time"
)

func TestRefreshRotates(t *testing.T) {
	v := newEnv(t)
	c := v.config("")
	first := v.issue(c, "scope", "email profile", "state", "x")
	f := v.refresh(c, str(first, "refresh_token"), "state", "s2")
	m := f.json()
	if f.status != 200 || m["state"] != "s2" || m["token_type"] != "bearer" || m["expires_in"] != float64(7200) {
		t.Fatalf("refresh: %d %v", f.status, m)
	}
	if str(m, "refresh_token") == str(first, "refresh_token") || str(m, "access_token") == str(first, "access_token") {
		t.Fatalf("tokens were not rotated")
	}
	// The old access token dies at once; the new one inherits user and scope.
	v.proxy(c, str(first, "access_token")).expectError(401, "invalid_token", "The access token is invalid or has expired")
	p := v.proxy(c, str(m, "access_token"))
	expectProxied(t, p)
	if p.up(hAuthenticatedUserID) != "user-1" || p.up(hAuthenticatedScope) != "email profile" {
		t.Errorf("inherited userid/scope: %q %q", p.up(hAuthenticatedUserID), p.up(hAuthenticatedScope))
	}
}

func TestRefreshReuseRevokesFamily(t *testing.T) {
	v := newEnv(t)
	c := v.config("")
	first := v.issue(c)
	second := v.refresh(c, str(first, "refresh_token")).json()
	// Replay of the rotated refresh token (RFC 6819 §5.2.2.3).
	v.refresh(c, str(first, "refresh_token")).expectError(400, "invalid_request", "Invalid refresh_token")
	// The whole family is gone, including the tokens minted from it.
	v.proxy(c, str(second, "access_token")).expectError(401, "invalid_token", "The access token is invalid or has expired")
	v.refresh(c, str(second, "refresh_token")).expectError(400, "invalid_request", "Invalid refresh_token")
	// Another family of the same user is untouched.
	other := v.issue(c)
	expectProxied(t, v.proxy(c, str(other, "access_token")))
}

func TestRefreshReuseRefreshToken(t *testing.T) {
	v := newEnv(t)
	c := v.config(`{"reuse_refresh_token":true, "refresh_token_ttl":100}`)
	first := v.issue(c)
	v.advance(60 * time.Second)
	f := v.refresh(c, str(first, "refresh_token"))
	m := f.json()
	if f.status != 200 || str(m, "refresh_token") != str(first, "refresh_token") || str(m, "access_token") == str(first, "access_token") {
		t.Fatalf("refresh: %d %v", f.status, m)
	}
	v.proxy(c, str(first, "access_token")).expectError(401, "invalid_token", "The access token is invalid or has expired")
	expectProxied(t, v.proxy(c, str(m, "access_token")))
	// The refresh lifetime slid: 60 s + 60 s is past the original 100 s.
	v.advance(60 * time.Second)
	if f := v.refresh(c, str(first, "refresh_token")); f.status != 200 {
		t.Errorf("refresh after the sliding window: %d %s", f.status, f.respBody)
	}
	v.advance(101 * time.Second)
	v.refresh(c, str(first, "refresh_token")).expectError(400, "invalid_request", "Invalid refresh_token")
}

func TestRefreshChecks(t *testing.T) {
	v := newEnv(t)
	v.client("app2", testSecret, testConsumer.ID, "confidential")
	c := v.config(`{"refresh_token_ttl":100}`)
	global := v.config(`{"global_credentials":true}`)
	otherService := v.config(`{"service_id":"svc-2"}`)
	fewerScopes := v.config(`{"scopes":["profile"]}`)
	noScopes := v.config(`{"scopes":null}`)

	for _, tc := range []struct {
		name           string
		issueOn, on    *Config
		clock          time.Duration
		extra          []string
		status         int
		wantCode, desc string
		issueScope     string // "" = email
		header         string // Authorization
	}{
		{"unknown refresh token", nil, c, 0, nil, 400, "invalid_request", "Invalid refresh_token", "", ""},
		{"expired refresh token", c, c, 101 * time.Second, nil, 400, "invalid_request", "Invalid refresh_token", "", ""},
		{"still valid at its ttl", c, c, 100 * time.Second, nil, 200, "", "", "", ""},
		{"other service", c, otherService, 0, nil, 400, "invalid_request", "Invalid refresh_token", "", ""},
		// §9: Kong crashes with a 500 here.
		{"global token on a service plugin", global, c, 0, nil, 400, "invalid_request", "Invalid refresh_token", "", ""},
		{"service token on a global plugin", c, global, 0, nil, 200, "", "", "", ""},
		{"other client", c, c, 0, []string{"client_id", "app2"}, 400, "invalid_client", "Invalid client authentication", "", ""},
		{"confidential client without secret", c, c, 0, []string{"client_secret", ""}, 400, "invalid_client", "Invalid client authentication", "", ""},
		{"scope no longer allowed", c, fewerScopes, 0, nil, 400, "invalid_scope", "Scope mismatch", "", ""},
		{"scopes removed from the plugin", c, noScopes, 0, nil, 400, "invalid_scope", "Scope mismatch", "", ""},
		{"no refresh_token parameter", nil, c, 0, nil, 400, "invalid_request", "Invalid refresh_token", "", ""},
		{"scopes removed from the plugin, token without scope", c, noScopes, 0, nil, 200, "", "", "<del>", ""},
		// Client errors come first, then c. service, d. client, e. scope.
		{"wrong secret and unknown refresh token", nil, c, 0, []string{"client_secret", "wrong"}, 400, "invalid_client", "Invalid client authentication", "", ""},
		{"other service and other client", c, otherService, 0, []string{"client_id", "app2"}, 400, "invalid_request", "Invalid refresh_token", "", ""},
		{"other client and scope no longer allowed", c, fewerScopes, 0, []string{"client_id", "app2"}, 400, "invalid_client", "Invalid client authentication", "", ""},
		// d. is 400 without a challenge even for Basic credentials (§3.4).
		{"other client, Basic credentials", c, c, 0, []string{"client_id", "<del>", "client_secret", "<del>"}, 400, "invalid_client", "Invalid client authentication", "", basic("app2", testSecret)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v.use(t)
			rt := "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
			if tc.name == "no refresh_token parameter" {
				rt = ""
			}
			if tc.issueOn != nil {
				scope := tc.issueScope
				if scope == "" {
					scope = "email"
				}
				rt = str(v.issue(tc.issueOn, "scope", scope), "refresh_token")
			}
			v.advance(tc.clock)
			form := url.Values{"grant_type": {"refresh_token"}, "client_id": {"app"}, "client_secret": {testSecret}, "refresh_token": {rt}}
			for i := 0; i+1 < len(tc.extra); i += 2 {
				if tc.extra[i+1] == "<del>" {
					form.Del(tc.extra[i])
					continue
				}
				form.Set(tc.extra[i], tc.extra[i+1])
			}
			f := v.tokenReq(form)
			if tc.header != "" {
				f.headers["authorization"] = []string{tc.header}
			}
			access(tc.on, f)
			if tc.status == 200 {
				if f.status != 200 {
					t.Fatalf("got %d %s", f.status, f.respBody)
				}
				return
			}
			f.expectError(tc.status, tc.wantCode, tc.desc)
			if got := f.respHeader("WWW-Authenticate"); got != "" {
				t.Errorf("WWW-Authenticate = %q on a 400", got)
			}
		})
	}
}

func TestRefreshByPublicClient(t *testing.T) {
	v := newEnv(t)
	c := v.config("")
	m := v.issue(c, "client_id", "pub", "client_secret", "<del>")
	f := v.refresh(c, str(m, "refresh_token"), "client_id", "pub", "client_secret", "")
	if f.status != 200 {
		t.Fatalf("public refresh: %d %s", f.status, f.respBody)
	}
}

func TestGlobalRefreshStaysGlobal(t *testing.T) {
	v := newEnv(t)
	g1 := v.config(`{"global_credentials":true}`)
	g2 := v.config(`{"global_credentials":true, "service_id":"svc-2"}`)
	m := v.refresh(g1, str(v.issue(g1), "refresh_token")).json()
	p := v.kong()
	p.path = "/x"
	p.headers["authorization"] = []string{"Bearer " + str(m, "access_token")}
	access(g2, p)
	expectProxied(t, p)
}
