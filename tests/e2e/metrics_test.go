package e2e

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/oauth2-password/oauth2-password/tests/harness"
	"github.com/oauth2-password/oauth2-password/tests/konghost"
)

// TestMetricsScrape runs the real binary with -metrics and JSON logs,
// sends a scripted mix of requests through the Kong-side host, and checks
// that each counter moved by what the mix should have moved it; that the
// exposition passes `promtool check metrics`; that it holds no secret, no
// client_id and no user id; and that every line the process wrote is a
// JSON record with a level and a message.
func TestMetricsScrape(t *testing.T) {
	const pk = "pk-metrics-0123456789"
	e := start(t, harness.SQLiteURL(t), "-metrics", "127.0.0.1:0", "-log-format", "json", "-throttle-failures", "2")
	e.consumer(konghost.Consumer{Username: "bob"})
	e.service(konghost.ServiceSpec{Name: "api", Host: "api.test", Config: map[string]any{"provision_key": pk}})
	c := harness.CreateClient(t, e.DB, "bob", "web")
	metricsURL := e.MetricsURL(t)
	_, before := harness.Scrape(t, metricsURL)

	const user = "user-metrics-4711"
	first := e.grant("api.test", c, pk, user, "")
	for range 3 {
		if r := e.get("http://api.test/x", first.AccessToken); r.StatusCode != 200 {
			t.Fatalf("valid token answered %d", r.StatusCode)
		}
	}
	next := e.refresh("api.test", c, first.RefreshToken)
	if r := e.get("http://api.test/x", next.AccessToken); r.StatusCode != 200 {
		t.Fatalf("refreshed token answered %d", r.StatusCode)
	}
	// Replaying the rotated refresh token revokes the family.
	if _, tr := e.postToken("api.test", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.RefreshToken},
		"client_id": {c.ID}, "client_secret": {c.Secret}}); tr.Status != 400 {
		t.Fatalf("replayed refresh token answered %d", tr.Status)
	}
	for _, tok := range []string{next.AccessToken, "no-such-token-0123456789"} {
		if r := e.get("http://api.test/x", tok); r.StatusCode != 401 {
			t.Fatalf("revoked or unknown token answered %d", r.StatusCode)
		}
	}
	if r := e.get("http://api.test/x", ""); r.StatusCode != 401 {
		t.Fatalf("no token answered %d", r.StatusCode)
	}
	wrong := harness.Client{ID: c.ID, Secret: "wrong-secret-0123456789abcdef"}
	for _, want := range []int{400, 400, 429} {
		if _, tr := e.postToken("api.test", passwordForm(wrong, pk, user, "")); tr.Status != want {
			t.Fatalf("wrong secret answered %d, want %d", tr.Status, want)
		}
	}

	want := map[string]float64{
		`oauth2_password_requests_total{front="kong",outcome="allowed"}`:           4,
		`oauth2_password_requests_total{front="kong",outcome="invalid_token"}`:     2,
		`oauth2_password_requests_total{front="kong",outcome="missing_token"}`:     1,
		`oauth2_password_requests_total{front="token",outcome="issued"}`:           2,
		`oauth2_password_requests_total{front="token",outcome="refresh_replayed"}`: 1,
		`oauth2_password_requests_total{front="token",outcome="invalid_client"}`:   2,
		`oauth2_password_requests_total{front="token",outcome="throttled"}`:        1,
		`oauth2_password_request_duration_seconds_count{front="kong"}`:             7,
		`oauth2_password_request_duration_seconds_count{front="token"}`:            6,
		`oauth2_password_tokens_issued_total{grant="password"}`:                    1,
		`oauth2_password_tokens_issued_total{grant="refresh_token"}`:               1,
		`oauth2_password_token_family_revocations_total`:                           1,
		`oauth2_password_store_calls_total{op="create_token",result="ok"}`:         1,
		`oauth2_password_store_calls_total{op="rotate_refresh",result="ok"}`:       1,
		`oauth2_password_store_call_duration_seconds_count{op="create_token"}`:     1,
		// Issuance caches the token: its 3 validations are hits. The
		// refreshed token is not cached until first read (a miss); the
		// revoked and the unknown one are misses each time.
		`oauth2_password_cache_lookups_total{cache="token",result="hit"}`:           3,
		`oauth2_password_cache_lookups_total{cache="token",result="miss"}`:          3,
		`oauth2_password_store_calls_total{op="token_by_access",result="ok"}`:       3,
		`oauth2_password_requests_total{front="token",outcome="invalid_grant"}`:     0,
		`oauth2_password_requests_total{front="kong",outcome="store_unavailable"}`:  0,
		`oauth2_password_requests_total{front="token",outcome="store_unavailable"}`: 0,
	}
	text, after := harness.WaitMetrics(t, metricsURL, before, want)
	for series, want := range map[string]float64{
		`oauth2_password_store_ready`: 1,
		// One client_id failed from one address: its (client_id,
		// address) key and the client_id's mark.
		`oauth2_password_throttle_keys`: 2,
	} {
		if after[series] != want {
			t.Errorf("%s = %v, want %v", series, after[series], want)
		}
	}
	if age := after[`oauth2_password_cache_sync_age_seconds`]; age <= 0 || age > 5 {
		t.Errorf("cache sync age %v s, want within the 2 s sync interval", age)
	}

	for name, s := range map[string]string{"client_id": c.ID, "client secret": c.Secret, "provision_key": pk, "user id": user,
		"access token": first.AccessToken, "refresh token": first.RefreshToken, "wrong secret": wrong.Secret} {
		if strings.Contains(text, s) {
			t.Errorf("the metrics carry the %s", name)
		}
	}
	harness.PromtoolCheck(t, text)

	out := e.Host.Process().Output()
	for _, line := range out {
		// The host prefixes each line with the process, as Kong does.
		if _, rest, ok := strings.Cut(line, "] "); ok && strings.HasPrefix(line, "[") {
			line = rest
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil || rec["level"] == nil || rec["msg"] == nil {
			t.Errorf("with -log-format json, a line that is not a JSON record with level and msg: %q", line)
		}
	}
	if !strings.Contains(strings.Join(out, "\n"), `"msg":"used refresh token presented again; token family revoked"`) {
		t.Errorf("the family revocation was not logged:\n%s", strings.Join(out, "\n"))
	}
}
