package plugin

import (
	"testing"
	"time"
)

var anonConsumer = Consumer{ID: "anon-id", Username: "anonymous-user"}

func TestAnonymous(t *testing.T) {
	v := newEnv(t)
	byID := v.config(`{"anonymous":"anon-id"}`)
	byName := v.config(`{"anonymous":"anonymous-user"}`)
	missing := v.config(`{"anonymous":"nobody"}`)
	tok := str(v.issue(byID), "access_token")
	otherService := str(v.issue(v.config(`{"service_id":"svc-2"}`)), "access_token")
	expired := str(v.issue(v.config(`{"token_expiration":1}`)), "access_token")
	v.advance(2 * time.Second)

	for _, tc := range []struct {
		name  string
		conf  *Config
		token string
	}{
		{"no token, by id", byID, ""},
		{"bad token, by username", byName, "nope"},
		{"expired token", byID, expired},
		{"other service's token", byID, otherService},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v.use(t)
			f := v.kong()
			f.path = "/api"
			f.consumers["anon-id"] = anonConsumer
			f.consumers["anonymous-user"] = anonConsumer
			f.headers["x-credential-identifier"] = []string{"spoofed"}
			if tc.token != "" {
				f.headers["authorization"] = []string{"Bearer " + tc.token}
			}
			access(tc.conf, f)
			expectProxied(t, f)
			if *f.authed != anonConsumer || f.authCred != nil {
				t.Errorf("Authenticate(%+v, %+v)", f.authed, f.authCred)
			}
			for h, w := range map[string]string{
				hConsumerID: "anon-id", hConsumerUsername: "anonymous-user", hConsumerCustomID: "<cleared>",
				hAnonymous: "true", hCredentialID: "<cleared>", hAuthenticatedScope: "<cleared>", hAuthenticatedUserID: "<cleared>",
			} {
				if got := f.up(h); got != w {
					t.Errorf("%s = %q, want %q", h, got, w)
				}
			}
		})
	}

	t.Run("valid token wins", func(t *testing.T) {
		v.use(t)
		f := v.proxy(byID, tok)
		expectProxied(t, f)
		if f.up(hCredentialID) != "app" || f.up(hAnonymous) != "<cleared>" {
			t.Errorf("headers %v", f.upstream)
		}
	})

	t.Run("anonymous consumer missing", func(t *testing.T) {
		v.use(t)
		f := v.proxy(missing, "")
		if f.status != 500 || str(f.json(), "message") != "anonymous consumer nobody is configured but doesn't exist" {
			t.Errorf("got %d %s", f.status, f.respBody)
		}
		if len(f.kongLogs) != 1 {
			t.Errorf("not logged to Kong: %v", f.kongLogs)
		}
	})

	t.Run("already authenticated by another plugin", func(t *testing.T) {
		v.use(t)
		f := v.kong()
		f.path, f.hasCredential = "/api", true
		f.headers["authorization"] = []string{"Bearer nope"}
		access(byID, f)
		if f.exited || f.authCalls != 0 {
			t.Fatalf("exited=%v authCalls=%d", f.exited, f.authCalls)
		}
		if len(f.upstream) != 2 || f.up(hAuthenticatedScope) != "<cleared>" || f.up(hAuthenticatedUserID) != "<cleared>" {
			t.Errorf("upstream %v", f.upstream)
		}
	})

	t.Run("logical AND ignores other plugins", func(t *testing.T) {
		v.use(t)
		f := v.kong()
		f.path, f.hasCredential = "/api", true
		access(v.config(""), f)
		f.expectError(401, "invalid_request", "The access token is missing")
	})

	t.Run("hide_credentials also applies to the anonymous path", func(t *testing.T) {
		v.use(t)
		c := v.config(`{"anonymous":"anon-id","hide_credentials":true}`)
		f := v.kong()
		f.path = "/api"
		f.consumers["anon-id"] = anonConsumer
		f.headers["authorization"] = []string{"Bearer nope"}
		access(c, f)
		expectProxied(t, f)
		if f.up("Authorization") != "<cleared>" {
			t.Errorf("Authorization = %q", f.up("Authorization"))
		}
	})
}
