package failure

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/tests/harness"
	"github.com/oauth2-password/oauth2-password/tests/konghost"
)

// TestNoSecretInLogs drives every error path of the real binary (bad
// client secret, bad provision_key, invalid config, missing, invalid,
// expired and revoked tokens, refresh-token replay, store down,
// throttling, oversize body) with JSON logs and metrics on, and then
// searches the plugin's whole output, its kong.log entries and its
// /metrics for every token, client secret and provision key the test
// used: none may appear. (plugin.TestNoSecretsInLogs covers both log
// formats line by line.) (A panic in the access phase is not
// reachable from outside; plugin.TestPanicIsRecovered covers its log.)
func TestNoSecretInLogs(t *testing.T) {
	wallTime(t)
	s := newStack(t, pg.NewDatabase(t), "-cache-sync-interval", "200ms", "-store-timeout", "1s",
		"-throttle-failures", "3", "-throttle-window", "30s", "-log-format", "json", "-metrics", "127.0.0.1:0")
	brokenKey := "pk-broken-config-secret-4242"
	for _, spec := range []konghost.ServiceSpec{
		{Name: "short", Host: "short.test", Config: map[string]any{"provision_key": provisionKey, "token_expiration": 1}},
		{Name: "broken", Host: "broken.test", Config: map[string]any{"provision_key": brokenKey, "token_expiration": -1}},
	} {
		if _, err := s.Host.AddService(spec); err != nil {
			t.Fatal(err)
		}
	}
	wrongSecret := "wrong-" + s.client.Secret[:8] + "-guess-secret"
	wrongKey := "pk-wrong-guess-0987654321"
	forged := "forged-token-abcdefghijklmnopqrstuvwxyz0123"
	secrets := map[string]string{
		"client secret": s.client.Secret, "provision_key": provisionKey, "broken config's provision_key": brokenKey,
		"wrong secret": wrongSecret, "wrong provision_key": wrongKey, "forged token": forged,
	}
	keep := func(name string, tr struct{ AccessToken, RefreshToken string }) {
		secrets[name+" access token"] = tr.AccessToken
		if tr.RefreshToken != "" {
			secrets[name+" refresh token"] = tr.RefreshToken
		}
	}
	expect := func(what string, got, want int) {
		t.Helper()
		if got != want {
			t.Fatalf("%s: status %d, want %d", what, got, want)
		}
	}
	post := func(u string, form map[string]string) int {
		t.Helper()
		vals := s.passwordForm("u")
		for k, v := range form {
			vals.Set(k, v)
		}
		resp, err := s.http.PostForm(u, vals)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	get := func(u, auth string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", u, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := s.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	expect("bad client secret", post(tokenURL, map[string]string{"client_secret": wrongSecret}), 400)
	expect("bad provision_key", post(tokenURL, map[string]string{"provision_key": wrongKey}), 400)
	expect("invalid config, token endpoint", post("https://broken.test/oauth2/token", nil), 500)
	expect("invalid config, proxied", get("http://broken.test/x", "Bearer "+forged), 500)
	expect("missing token", get(apiURL, ""), 401)
	expect("invalid token", get(apiURL, "Bearer "+forged), 401)

	// Expired.
	tr, _, err := s.post(s.passwordForm("u"))
	if err != nil || tr.Status != 200 {
		t.Fatalf("issue: %+v %v", tr, err)
	}
	keep("first", struct{ AccessToken, RefreshToken string }{tr.AccessToken, tr.RefreshToken})
	resp, err := s.http.PostForm("https://short.test/oauth2/token", s.passwordForm("u"))
	if err != nil {
		t.Fatal(err)
	}
	short, err := decodeTokenResp(resp)
	if err != nil || short.Status != 200 {
		t.Fatalf("short-lived token: %+v %v", short, err)
	}
	keep("short-lived", struct{ AccessToken, RefreshToken string }{short.AccessToken, short.RefreshToken})

	// Revoked: rotation retires the old access token; replaying the old
	// refresh token revokes the whole family (and is logged).
	next, _, err := s.post(s.refreshForm(tr.RefreshToken))
	if err != nil || next.Status != 200 {
		t.Fatalf("refresh: %+v %v", next, err)
	}
	keep("rotated", struct{ AccessToken, RefreshToken string }{next.AccessToken, next.RefreshToken})
	expect("rotated-out token", get(apiURL, "Bearer "+tr.AccessToken), 401)
	replay, _, err := s.post(s.refreshForm(tr.RefreshToken))
	if err != nil || replay.Status != 400 {
		t.Fatalf("replay: %+v %v", replay, err)
	}
	expect("token of a revoked family", get(apiURL, "Bearer "+next.AccessToken), 401)

	time.Sleep(2100 * time.Millisecond) // token_expiration 1 on short.test
	expect("expired token", get("http://short.test/x", "Bearer "+short.AccessToken), 401)

	// Oversize body carrying the secrets.
	big := s.passwordForm("u")
	big.Set("pad", strings.Repeat("p", 70<<10))
	resp, err = s.http.PostForm(tokenURL, big)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	expect("oversize body", resp.StatusCode, 400)

	// Store down: issuance, refresh and an unknown token are answered 503
	// and the store errors are logged.
	live, _, err := s.post(s.passwordForm("u"))
	if err != nil || live.Status != 200 {
		t.Fatalf("issue: %+v %v", live, err)
	}
	keep("live", struct{ AccessToken, RefreshToken string }{live.AccessToken, live.RefreshToken})
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	expect("issue, store down", post(tokenURL, nil), 503)
	r503, _, err := s.post(s.refreshForm(live.RefreshToken))
	if err != nil {
		t.Fatal(err)
	}
	expect("refresh, store down", r503.Status, 503)
	expect("unknown token, store down", get(apiURL, "Bearer "+forged+"2"), 503)
	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	if err := within(30*time.Second, func() error {
		if st := post(tokenURL, map[string]string{"authenticated_userid": "after"}); st != 200 {
			return fmt.Errorf("token endpoint after restart: %d", st)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// Throttling: the wrong secret and the wrong provision_key above were
	// the first two failures of this client.
	expect("bad client secret again", post(tokenURL, map[string]string{"client_secret": wrongSecret}), 400)
	expect("throttled", post(tokenURL, nil), 429)

	out := s.Host.Process().Output()
	var logs []string
	for _, e := range s.Host.Logs() {
		logs = append(logs, e.Level+": "+e.Message)
	}
	// The last answer (429) may reach us just before its count does.
	var metricsText string
	if err := within(10*time.Second, func() error {
		if metricsText, _ = harness.Scrape(t, s.MetricsURL(t)); !strings.Contains(metricsText, `outcome="throttled"`) {
			return fmt.Errorf("the throttled request is not counted")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	all := strings.Join(out, "\n") + "\n" + strings.Join(logs, "\n") + "\n" + metricsText
	for _, want := range []string{`"msg":"token store failed"`, "invalid plugin configuration: token_expiration",
		`"msg":"used refresh token presented again; token family revoked"`, `outcome="throttled"`, `outcome="store_unavailable"`} {
		if !strings.Contains(all, want) {
			t.Errorf("the log lacks %q: the error paths did not run as intended\n%s", want, all)
		}
	}
	for name, secret := range secrets {
		if secret == "" {
			t.Fatalf("%s is empty", name)
		}
		if strings.Contains(all, secret) {
			t.Errorf("the %s appears in the plugin's log or metrics", name)
		}
	}
	t.Logf("%d output lines, %d kong.log entries and the metrics checked against %d secrets", len(out), len(logs), len(secrets))
}
