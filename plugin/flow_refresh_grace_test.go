package plugin

import (
	"net/url"
	"testing"
	"time"
)

// TestRefreshGracePeriod: with refresh_token_grace_period, a client that
// retries a refresh whose answer it lost gets a new valid pair and stays
// logged in; past the window, by another client, or once the family is
// revoked, a reuse is answered and handled exactly as without it (the
// family is revoked).
func TestRefreshGracePeriod(t *testing.T) {
	for _, tc := range []struct {
		name    string
		config  string
		after   time.Duration // from the first use to the retry
		client  string        // who retries ("" = the same client)
		logout  bool          // the family is revoked before the retry
		retried bool          // 200 with a new pair, family alive
	}{
		{"within the window", `{"refresh_token_grace_period":10}`, 5 * time.Second, "", false, true},
		{"at the window's end", `{"refresh_token_grace_period":10}`, 10 * time.Second, "", false, true},
		{"after the window", `{"refresh_token_grace_period":10}`, 11 * time.Second, "", false, false},
		{"period 0 (default)", `{}`, 0, "", false, false},
		{"another client", `{"refresh_token_grace_period":10}`, time.Second, "app2", false, false},
		{"family revoked", `{"refresh_token_grace_period":10}`, time.Second, "", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newEnv(t)
			v.client("app2", testSecret, testConsumer.ID, "confidential")
			c := v.config(tc.config)
			first := v.issue(c)
			// The first use: the client never got this answer.
			lost := v.refresh(c, str(first, "refresh_token")).json()
			if tc.logout {
				if f := v.revoke(c, url.Values{"token": {str(lost, "refresh_token")}, "client_id": {"app"}, "client_secret": {testSecret}}); f.status != 200 {
					t.Fatalf("revoke: %d %s", f.status, f.respBody)
				}
			}
			v.advance(tc.after)
			var extra []string
			if tc.client != "" {
				extra = []string{"client_id", tc.client}
			}
			retry := v.refresh(c, str(first, "refresh_token"), extra...)
			if !tc.retried {
				retry.expectError(400, "invalid_request", "Invalid refresh_token")
				// The family is revoked, as without the grace period.
				v.proxy(c, str(lost, "access_token")).expectError(401, "invalid_token", "The access token is invalid or has expired")
				v.refresh(c, str(lost, "refresh_token")).expectError(400, "invalid_request", "Invalid refresh_token")
				return
			}
			m := retry.json()
			if retry.status != 200 || str(m, "access_token") == "" || str(m, "refresh_token") == "" ||
				str(m, "access_token") == str(lost, "access_token") || str(m, "refresh_token") == str(lost, "refresh_token") {
				t.Fatalf("retry: %d %v, want a new pair", retry.status, m)
			}
			// The user stays logged in: the new pair works, the pair the
			// client never received too, the first access token (rotated
			// out at the first use) does not.
			expectProxied(t, v.proxy(c, str(m, "access_token")))
			expectProxied(t, v.proxy(c, str(lost, "access_token")))
			v.proxy(c, str(first, "access_token")).expectError(401, "invalid_token", "The access token is invalid or has expired")
			next := v.refresh(c, str(m, "refresh_token"))
			if next.status != 200 {
				t.Fatalf("refresh with the retried pair: %d %s", next.status, next.respBody)
			}
			// A reuse after the window revokes the whole family, the
			// retried pair included.
			v.advance(11 * time.Second)
			v.refresh(c, str(first, "refresh_token")).expectError(400, "invalid_request", "Invalid refresh_token")
			v.proxy(c, str(next.json(), "access_token")).expectError(401, "invalid_token", "The access token is invalid or has expired")
		})
	}
}

// TestRefreshGraceNotForRevoked: the grace period lets a client retry a
// refresh token that was rotated, never one that was revoked. The pair a
// retry got is revoked (RFC 7009, its access token: the refresh token in
// the same row goes with it); its refresh token then fails, also while
// the family is alive and in the very second the family's other pair was
// issued (which a rotation's successor would be, too).
func TestRefreshGraceNotForRevoked(t *testing.T) {
	v := newEnv(t)
	c := v.config(`{"refresh_token_grace_period":30}`)
	first := v.issue(c)
	lost := v.refresh(c, str(first, "refresh_token")).json()
	retried := v.refresh(c, str(first, "refresh_token"))
	if retried.status != 200 {
		t.Fatalf("retry within the window: %d %s", retried.status, retried.respBody)
	}
	m := retried.json()
	if f := v.revoke(c, url.Values{"token": {str(m, "access_token")}, "client_id": {"app"}, "client_secret": {testSecret}}); f.status != 200 {
		t.Fatalf("revoke: %d %s", f.status, f.respBody)
	}
	v.refresh(c, str(m, "refresh_token")).expectError(400, "invalid_request", "Invalid refresh_token")
	// Presenting a revoked refresh token is handled as any reuse: the
	// family is revoked, the pair the client never received included.
	v.proxy(c, str(lost, "access_token")).expectError(401, "invalid_token", "The access token is invalid or has expired")
}
