package serve

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/oauth2-password/oauth2-password/tests/harness"
)

// TestServeMetrics: serve mode with -metrics on a listener of its own
// counts each front's requests by outcome; the public listener does not
// serve /metrics; the exposition passes promtool and names no client or
// user.
func TestServeMetrics(t *testing.T) {
	db := harness.SQLiteURL(t)
	c := harness.CreateClient(t, db, "bob", "web")
	metricsAddr := harness.FreeAddr(t)
	s := harness.StartServeTLS(t, db, ordersConfig, "-metrics", metricsAddr, "-log-format", "json")
	metricsURL := "http://" + metricsAddr + "/metrics"
	_, before := harness.Scrape(t, metricsURL)

	const user = "user-serve-metrics-17"
	tk := grant(t, s, "orders", c, user, "email")
	for _, tc := range []struct {
		path, token string
		status      int
	}{
		{"/services/orders/auth", tk.Access, 200},
		{"/services/orders/auth", tk.Access, 200},
		{"/services/orders/auth", "no-such-token", 401},
		{"/services/orders/auth", "", 401},
		{"/services/orders/ext-authz/orders/1", tk.Access, 200},
		{"/services/billing/ext-authz/x", tk.Access, 401},
	} {
		var h []string
		if tc.token != "" {
			h = []string{"Authorization", "Bearer " + tc.token}
		}
		if a := get(t, s, tc.path, h...); a.status != tc.status {
			t.Fatalf("%s: %d, want %d: %s", tc.path, a.status, tc.status, a.body)
		}
	}
	creds := url.Values{"client_id": {c.ID}, "client_secret": {c.Secret}}
	withCreds := func(v url.Values) url.Values {
		for k, val := range creds {
			v[k] = val
		}
		return v
	}
	if a := post(t, s, "/services/orders/oauth2/introspect", withCreds(url.Values{"token": {tk.Access}})); a.status != 200 {
		t.Fatalf("introspect: %d %s", a.status, a.body)
	}
	if a := post(t, s, "/services/orders/oauth2/token", withCreds(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tk.Refresh}})); a.status != 200 {
		t.Fatalf("refresh: %d %s", a.status, a.body)
	}
	if a := post(t, s, "/services/orders/oauth2/revoke", withCreds(url.Values{"token": {tk.Refresh}})); a.status != 200 {
		t.Fatalf("revoke: %d %s", a.status, a.body)
	}

	text, _ := harness.WaitMetrics(t, metricsURL, before, map[string]float64{
		`oauth2_password_requests_total{front="forward-auth",outcome="allowed"}`:         2,
		`oauth2_password_requests_total{front="forward-auth",outcome="invalid_token"}`:   1,
		`oauth2_password_requests_total{front="forward-auth",outcome="missing_token"}`:   1,
		`oauth2_password_requests_total{front="ext-authz-http",outcome="allowed"}`:       1,
		`oauth2_password_requests_total{front="ext-authz-http",outcome="invalid_token"}`: 1,
		`oauth2_password_requests_total{front="token",outcome="issued"}`:                 2,
		`oauth2_password_requests_total{front="token",outcome="introspected"}`:           1,
		`oauth2_password_requests_total{front="token",outcome="revoked"}`:                1,
		`oauth2_password_request_duration_seconds_count{front="forward-auth"}`:           4,
		`oauth2_password_request_duration_seconds_count{front="ext-authz-http"}`:         2,
		`oauth2_password_request_duration_seconds_count{front="token"}`:                  4,
		`oauth2_password_tokens_issued_total{grant="password"}`:                          1,
		`oauth2_password_tokens_issued_total{grant="refresh_token"}`:                     1,
		`oauth2_password_store_calls_total{op="create_token",result="ok"}`:               1,
		`oauth2_password_store_calls_total{op="revoke",result="ok"}`:                     1,
	})
	harness.PromtoolCheck(t, text)
	for name, secret := range map[string]string{"client_id": c.ID, "client secret": c.Secret, "user id": user,
		"provision_key": provisionKey, "access token": tk.Access, "refresh token": tk.Refresh} {
		if strings.Contains(text, secret) {
			t.Errorf("the metrics carry the %s", name)
		}
	}
	if a := get(t, s, "/metrics"); a.status != http.StatusNotFound {
		t.Errorf("the public listener answers /metrics with %d, want 404", a.status)
	}
}

// TestServeJSONLog: with -log-format json every line serve writes, from
// start to shutdown, is a JSON record with a level and a message.
func TestServeJSONLog(t *testing.T) {
	s := harness.StartServe(t, harness.SQLiteURL(t), ordersConfig, "-log-format", "json", "-metrics", harness.FreeAddr(t))
	if a := get(t, s, "/services/orders/auth", "Authorization", "Bearer no-such-token"); a.status != 401 {
		t.Fatalf("unknown token: %d", a.status)
	}
	if err := s.Stop(t); err != nil {
		t.Fatalf("serve exited with %v", err)
	}
	lines := s.Output()
	msgs := map[string]bool{}
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil || rec["level"] == nil || rec["msg"] == nil {
			t.Errorf("not a JSON record with level and msg: %q", l)
			continue
		}
		msgs[rec["msg"].(string)] = true
	}
	for _, want := range []string{"serving", "metrics listening", "shutting down"} {
		if !msgs[want] {
			t.Errorf("no %q line in %q", want, lines)
		}
	}
}
