package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/oauth2-password/oauth2-password/tests/harness"
	"github.com/oauth2-password/oauth2-password/tests/konghost"
)

// TestPasswordRefreshFlow is the life of a token as an application sees it,
// with a stock OAuth2 client library for the refresh and the bearer calls:
// issue, use, refresh, the old access token dies, the new one works.
func TestPasswordRefreshFlow(t *testing.T) {
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			db := sc.url(t)
			e := start(t, db)
			cons := e.consumer(konghost.Consumer{Username: "bob", CustomID: "bob-7"})
			e.service(konghost.ServiceSpec{Name: "orders", Host: "orders.test", Config: map[string]any{
				"provision_key": "pk-orders-0123456789", "scopes": []string{"orders.read", "orders.write"}}})
			c := harness.CreateClient(t, db, "bob", "web")

			// The password grant needs provision_key and authenticated_userid,
			// which Config.PasswordCredentialsToken cannot send: the backend
			// gets the first token with a plain form post.
			r, first := e.postToken("orders.test", passwordForm(c, "pk-orders-0123456789", "user-42", "orders.read orders.write"))
			if first.Status != 200 || first.TokenType != "bearer" || first.ExpiresIn != 7200 || first.RefreshToken == "" {
				t.Fatalf("password grant: %d %+v", first.Status, first)
			}
			// RFC 6749 §5.1: token responses must not be cached.
			if r.Header.Get("Cache-Control") != "no-store" || r.Header.Get("Pragma") != "no-cache" {
				t.Errorf("token response Cache-Control %q Pragma %q", r.Header.Get("Cache-Control"), r.Header.Get("Pragma"))
			}

			ctx := context.WithValue(context.Background(), oauth2.HTTPClient, e.hc)
			conf := &oauth2.Config{ClientID: c.ID, ClientSecret: c.Secret, Endpoint: oauth2.Endpoint{
				TokenURL: "https://orders.test/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}}

			// The first token opens the protected route.
			static := oauth2.NewClient(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: first.AccessToken, TokenType: first.TokenType}))
			ec := getEcho(t, e, static, "https://orders.test/orders/1")
			wantHeaders := map[string]string{
				"x-consumer-id": cons.ID, "x-consumer-username": "bob", "x-consumer-custom-id": "bob-7",
				"x-credential-identifier": c.ID, "x-authenticated-userid": "user-42",
				"x-authenticated-scope": "orders.read orders.write",
			}
			for h, want := range wantHeaders {
				if got, _ := ec.Header(h); got != want {
					t.Errorf("upstream %s = %q, want %q", h, got, want)
				}
			}

			// An expired oauth2.Token makes the library refresh it, sending
			// the client credentials in a Basic header.
			ts := conf.TokenSource(ctx, &oauth2.Token{AccessToken: first.AccessToken, RefreshToken: first.RefreshToken,
				TokenType: first.TokenType, Expiry: time.Now().Add(-time.Minute)})
			next, err := ts.Token()
			if err != nil {
				t.Fatalf("refresh through golang.org/x/oauth2: %v", err)
			}
			if next.AccessToken == first.AccessToken || next.RefreshToken == "" || next.RefreshToken == first.RefreshToken {
				t.Fatalf("refresh returned the same tokens or no refresh token")
			}
			if left := time.Until(next.Expiry); left < 7100*time.Second || left > 7200*time.Second {
				t.Errorf("refreshed token expires in %v, want about 7200 s", left)
			}

			// Kong deletes the refreshed row: the old access token is gone.
			wantRefused(t, e.get("https://orders.test/orders/1", first.AccessToken), "", descInvalid)
			// The new token works through the library's client, with the
			// scope and user of the original grant.
			refreshed := oauth2.NewClient(ctx, ts)
			ec = getEcho(t, e, refreshed, "https://orders.test/orders/1")
			for h, want := range wantHeaders {
				if got, _ := ec.Header(h); got != want {
					t.Errorf("after refresh: upstream %s = %q, want %q", h, got, want)
				}
			}

			// Replaying the rotated refresh token is refused and, as the
			// README promises (RFC 6819 §5.2.2.3), revokes the whole family:
			// a thief and the victim both lose the grant.
			if _, tr := e.postToken("orders.test", refreshForm(c, first.RefreshToken)); tr.Status != 400 ||
				tr.Error != "invalid_request" || tr.ErrorDescription != "Invalid refresh_token" {
				t.Errorf("replayed refresh token: %d %s %s", tr.Status, tr.Error, tr.ErrorDescription)
			}
			wantRefused(t, e.get("https://orders.test/orders/1", next.AccessToken), "", descInvalid)
			if _, tr := e.postToken("orders.test", refreshForm(c, next.RefreshToken)); tr.Status != 400 || tr.Error != "invalid_request" {
				t.Errorf("refresh token of a revoked family: %d %s", tr.Status, tr.Error)
			}
		})
	}
}

func refreshForm(c harness.Client, refresh string) map[string][]string {
	return map[string][]string{"grant_type": {"refresh_token"}, "refresh_token": {refresh},
		"client_id": {c.ID}, "client_secret": {c.Secret}}
}

func getEcho(t *testing.T, e *env, hc *http.Client, rawURL string) *konghost.Echo {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, rawURL, nil)
	return do(t, hc, req).echo(t)
}

// TestSpoofedIdentityHeaders: identity headers a client sends are never
// passed upstream as if Kong had set them (kong/BEHAVIOUR.md §7).
func TestSpoofedIdentityHeaders(t *testing.T) {
	t.Parallel()
	db := harness.SQLiteURL(t)
	e := start(t, db)
	full := e.consumer(konghost.Consumer{Username: "alice", CustomID: "alice-1"})
	bare := e.consumer(konghost.Consumer{}) // no username, no custom_id
	e.service(konghost.ServiceSpec{Name: "api", Host: "api.test", Config: map[string]any{
		"provision_key": "pk-api-0123456789", "scopes": []string{"read"}}})
	cFull := harness.CreateClient(t, db, "alice", "full")
	cBare := harness.CreateClient(t, db, bare.ID, "bare")
	spoofed := []string{
		"X-Consumer-ID", "evil", "X-Consumer-Username", "root", "X-Consumer-Custom-ID", "root-0",
		"X-Credential-Identifier", "evil-client", "X-Authenticated-Userid", "admin",
		"X-Authenticated-Scope", "admin", "X-Anonymous-Consumer", "true",
	}
	tests := []struct {
		name   string
		client harness.Client
		scope  string
		want   map[string]string // "" = must be absent upstream
	}{
		{"full consumer, scoped token", cFull, "read", map[string]string{
			"x-consumer-id": full.ID, "x-consumer-username": "alice", "x-consumer-custom-id": "alice-1",
			"x-credential-identifier": cFull.ID, "x-authenticated-userid": "u-1", "x-authenticated-scope": "read",
			"x-anonymous-consumer": ""}},
		{"bare consumer, no scope", cBare, "", map[string]string{
			"x-consumer-id": bare.ID, "x-consumer-username": "", "x-consumer-custom-id": "",
			"x-credential-identifier": cBare.ID, "x-authenticated-userid": "u-1", "x-authenticated-scope": "",
			"x-anonymous-consumer": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := e.grant("api.test", tt.client, "pk-api-0123456789", "u-1", tt.scope)
			ec := e.get("https://api.test/x", tok.AccessToken, spoofed...).echo(t)
			for h, want := range tt.want {
				got, sent := ec.Headers[h]
				switch {
				case want == "" && sent:
					t.Errorf("spoofed %s reached upstream as %q", h, got)
				case want != "" && (len(got) != 1 || got[0] != want):
					t.Errorf("upstream %s = %q, want only %q", h, got, want)
				}
			}
		})
	}
}

// TestTokenRequestWithManyHeaders: a token request whose client
// credentials (HTTP Basic), Content-Type and X-Forwarded-Proto come after
// hundreds of other headers is answered as without them: Kong's own
// plugin reads each header by name, with no limit on how many came.
func TestTokenRequestWithManyHeaders(t *testing.T) {
	t.Parallel()
	db := harness.SQLiteURL(t)
	e := start(t, db)
	e.consumer(konghost.Consumer{Username: "bob"})
	e.service(konghost.ServiceSpec{Name: "orders", Host: "orders.test", Config: map[string]any{"provision_key": "pk-orders-0123456789"}})
	c := harness.CreateClient(t, db, "bob", "web")
	form := passwordForm(c, "pk-orders-0123456789", "user-42", "")
	form.Del("client_id")
	form.Del("client_secret")
	req, err := http.NewRequest(http.MethodPost, "https://orders.test/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 400 {
		req.Header.Set(fmt.Sprintf("X-Filler-%03d", i), "x")
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(c.ID, c.Secret)
	r := do(t, e.hc, req)
	if r.StatusCode != 200 || !strings.Contains(string(r.body), `"access_token"`) {
		t.Errorf("token request with 402 headers: %d %s, want 200 with a token", r.StatusCode, r.body)
	}
}
