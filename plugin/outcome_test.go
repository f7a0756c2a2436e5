package plugin

import (
	"bufio"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestDecisionOutcome: every answer names what was decided, in the fixed
// vocabulary the metrics and logs use, with the endpoint and the grant.
func TestDecisionOutcome(t *testing.T) {
	v := newEnv(t)
	c := v.config("")
	anon := v.config(`{"anonymous":"` + testConsumer.Username + `"}`)
	short := v.config(`{"token_expiration":5}`)
	m := v.issue(c)
	first, refresh := str(m, "access_token"), str(m, "refresh_token")
	expiring := str(v.issue(short), "access_token")
	rotated := v.refresh(c, refresh)
	if rotated.status != 200 {
		t.Fatalf("refresh: %d %s", rotated.status, rotated.respBody)
	}
	next := str(rotated.json(), "access_token")
	v.advance(10 * time.Second)

	otherCred := v.kong()
	otherCred.path, otherCred.hasCredential = "/api", true
	wrongMethod := v.tokenReq(passwordForm())
	wrongMethod.method = "GET"
	plainHTTP := v.tokenReq(passwordForm())
	plainHTTP.scheme = "http"

	for _, tc := range []struct {
		name                     string
		run                      func() *fakeKong
		outcome, endpoint, grant string
	}{
		{"valid token", func() *fakeKong { return v.proxy(c, next) }, OutcomeAllowed, "", ""},
		{"no token", func() *fakeKong { return v.proxy(c, "") }, OutcomeMissingToken, "", ""},
		{"unknown token", func() *fakeKong { return v.proxy(c, "no-such-token") }, OutcomeInvalidToken, "", ""},
		{"rotated-out token", func() *fakeKong { return v.proxy(c, first) }, OutcomeInvalidToken, "", ""},
		{"expired token", func() *fakeKong { return v.proxy(short, expiring) }, OutcomeExpired, "", ""},
		{"anonymous", func() *fakeKong { return v.proxy(anon, "no-such-token") }, OutcomeAnonymous, "", ""},
		{"earlier plugin authenticated", func() *fakeKong { access(anon, otherCred); return otherCred }, OutcomeOtherCredential, "", ""},
		{"password grant", func() *fakeKong { f := v.tokenReq(passwordForm()); access(c, f); return f }, OutcomeIssued, "token", "password"},
		{"refresh grant", func() *fakeKong { return v.refresh(c, str(rotated.json(), "refresh_token")) }, OutcomeIssued, "token", "refresh_token"},
		{"unknown refresh token", func() *fakeKong { return v.refresh(c, "no-such-refresh") }, OutcomeInvalidGrant, "token", "refresh_token"},
		{"replayed refresh token", func() *fakeKong { return v.refresh(c, refresh) }, OutcomeRefreshReplayed, "token", "refresh_token"},
		{"wrong secret", func() *fakeKong {
			f := v.tokenReq(passwordForm("client_secret", "wrong-secret-0123456789"))
			access(c, f)
			return f
		}, OutcomeInvalidClient, "token", ""},
		{"wrong provision_key", func() *fakeKong {
			f := v.tokenReq(passwordForm("provision_key", "wrong"))
			access(c, f)
			return f
		}, OutcomeInvalidProvisionKey, "token", "password"},
		{"bad scope", func() *fakeKong { f := v.tokenReq(passwordForm("scope", "admin")); access(c, f); return f }, OutcomeInvalidScope, "token", "password"},
		{"unsupported grant", func() *fakeKong {
			f := v.tokenReq(passwordForm("grant_type", "client_credentials"))
			access(c, f)
			return f
		}, OutcomeUnsupportedGrant, "token", ""},
		{"GET on the token endpoint", func() *fakeKong { access(c, wrongMethod); return wrongMethod }, OutcomeInvalidMethod, "token", ""},
		{"plain HTTP", func() *fakeKong { access(c, plainHTTP); return plainHTTP }, OutcomeHTTPSRequired, "token", ""},
		{"revoke", func() *fakeKong { return v.revoke(c, url.Values{"token": {"whatever"}}) }, OutcomeRevoked, "revoke", ""},
		{"introspect", func() *fakeKong { return v.introspect(c, url.Values{"token": {next}}) }, OutcomeIntrospected, "introspect", ""},
		{"invalid config", func() *fakeKong { return v.proxy(v.config(`{"token_expiration":-1}`), next) }, OutcomeConfigError, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v.use(t)
			f := tc.run()
			if f.outcome != tc.outcome || f.endpoint != tc.endpoint || f.grant != tc.grant {
				t.Errorf("outcome %q, endpoint %q, grant %q; want %q, %q, %q (answer %d %s)",
					f.outcome, f.endpoint, f.grant, tc.outcome, tc.endpoint, tc.grant, f.status, f.respBody)
			}
			if !slices.Contains(Outcomes(), f.outcome) {
				t.Errorf("outcome %q is not in Outcomes()", f.outcome)
			}
		})
	}

	t.Run("throttled", func(t *testing.T) {
		v.use(t)
		v.failN(c, DefaultThrottleFailures, wrongSecret("nobody"))
		f := v.tokenReq(wrongSecret("nobody"))
		access(c, f)
		if f.status != 429 || f.outcome != OutcomeThrottled {
			t.Errorf("got %d, outcome %q; want 429 %q", f.status, f.outcome, OutcomeThrottled)
		}
		// "app" (the wrong secret and provision_key above) and "nobody",
		// each from one address: a (client_id, address) key and the
		// client_id's mark, two keys each.
		if n := v.e.ThrottledKeys(); n != 4 {
			t.Errorf("ThrottledKeys() = %d, want 4", n)
		}
	})
}

// TestStoreDownOutcome: a store failure is store_unavailable on both the
// validation path and the token endpoint.
func TestStoreDownOutcome(t *testing.T) {
	v := newEnvWith(t, func(s Store) Store { return blockingStore{s} })
	c := v.config("")
	if f := v.proxy(c, "some-token"); f.outcome != OutcomeStoreUnavailable {
		t.Errorf("validation: outcome %q, want %q", f.outcome, OutcomeStoreUnavailable)
	}
	f := v.tokenReq(passwordForm())
	access(c, f)
	if f.outcome != OutcomeStoreUnavailable || f.status != 503 {
		t.Errorf("token endpoint: %d, outcome %q, want 503 %q", f.status, f.outcome, OutcomeStoreUnavailable)
	}
}

// TestLogLinesCarryRequest: each line about a request has a level, a fixed
// message, and the request's client_id and outcome (JSON format).
func TestLogLinesCarryRequest(t *testing.T) {
	v := newEnvWith(t, func(s Store) Store { return failingCreate{s} })
	c := v.config("")
	f := v.tokenReq(passwordForm())
	access(c, f)
	if f.status != 503 {
		t.Fatalf("got %d, want 503", f.status)
	}
	var found bool
	sc := bufio.NewScanner(strings.NewReader(v.logs()))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "{") {
			continue // the text format's copy
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not JSON: %q: %v", line, err)
		}
		if rec["level"] == nil || rec["msg"] == nil {
			t.Errorf("line without level or message: %s", line)
		}
		if rec["msg"] == msgStoreFailed {
			found = true
			if rec["level"] != "ERROR" || rec["client_id"] != "app" || rec["outcome"] != OutcomeStoreUnavailable || rec["op"] != "storing a token" {
				t.Errorf("store failure logged as %s", line)
			}
		}
	}
	if !found {
		t.Errorf("no %q line in %q", msgStoreFailed, v.logs())
	}
}
