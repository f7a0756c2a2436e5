package plugin

import (
	"strings"
	"testing"
)

// TestHeaderTokenMatchesLuaFields: the allocation-free split of the auth
// header finds the token exactly where Kong's gmatch("%S+") split does.
func TestHeaderTokenMatchesLuaFields(t *testing.T) {
	// The split the engine made before, kept here as the reference.
	want := func(h string) string {
		if parts := luaFields(h); len(parts) == 2 &&
			(strings.EqualFold(parts[0], "bearer") || strings.EqualFold(parts[0], "token")) {
			return parts[1]
		}
		return h
	}
	for _, h := range []string{
		"Bearer abc", "bearer abc", "BEARER abc", "Token abc", "token\tabc", "Bearer  abc  ",
		"  Bearer abc", "Bearer\r\n\v\fabc", "Bearer", "Bearer ", "abc", "Basic abc", "Bearer abc def",
		"Bearer abc\t", "Bearerabc", "Beärer abc", "Bearer ä", "Bearer\u00a0abc", "\t", " ",
	} {
		if got := headerToken(h); got != want(h) {
			t.Errorf("headerToken(%q) = %q, want %q", h, got, want(h))
		}
	}
}

// TestUpstreamHeadersNotCarriedOver: header maps are recycled between
// requests, so nothing of one request (another token's scope and user, a
// hide_credentials removal) may reach the next request's upstream.
func TestUpstreamHeadersNotCarriedOver(t *testing.T) {
	v := newEnv(t)
	hide := v.config(`{"hide_credentials":true}`)
	plain := v.config("")
	full := str(v.issue(plain, "scope", "email profile", "authenticated_userid", "first"), "access_token")
	bare := str(v.issue(plain, "scope", "<del>", "authenticated_userid", "second"), "access_token")
	for range 3 {
		f := v.proxy(hide, full)
		expectProxied(t, f)
		if got := f.upstream["X-Authenticated-Scope"]; len(got) != 1 || got[0] != "email profile" {
			t.Fatalf("scope sent upstream = %q", got)
		}
		if got, ok := f.upstream["Authorization"]; !ok || len(got) != 0 {
			t.Fatalf("hide_credentials: Authorization upstream = %q, %v; want removed", got, ok)
		}
		f = v.proxy(plain, bare)
		expectProxied(t, f)
		if _, ok := f.upstream["Authorization"]; ok {
			t.Fatalf("the previous request's hide_credentials removal leaked: %v", f.upstream)
		}
		if got := f.upstream["X-Authenticated-Scope"]; len(got) != 0 {
			t.Fatalf("X-Authenticated-Scope = %q, want cleared", got)
		}
		if got := f.upstream["X-Authenticated-Userid"]; len(got) != 1 || got[0] != "second" {
			t.Fatalf("X-Authenticated-Userid = %q, want second", got)
		}
		if got := f.upstream["X-Credential-Identifier"]; len(got) != 1 || got[0] != "app" {
			t.Fatalf("X-Credential-Identifier = %q, want app", got)
		}
	}
}
