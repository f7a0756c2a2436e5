package kong2

import (
	"net/url"
	"strings"
	"testing"

	"github.com/oauth2-password/oauth2-password/tests/harness"
	"github.com/oauth2-password/oauth2-password/tests/konghost"
)

// flow is the life of a token, run the same way against either host: each
// step's observation, and the checks a user relies on.
func flow(t *testing.T, d doer) []string {
	t.Helper()
	var seen []string
	step := func(r *konghost.Result) *konghost.Result {
		seen = append(seen, observe(r))
		return r
	}
	access, refresh := tokens(t, step(do(t, d, tokenRequest(passwordForm(provisionKey)))))

	ok := step(do(t, d, bearerRequest(access)))
	if !ok.Proxied || ok.Consumer == nil || ok.Consumer.ID != consumer.ID || ok.Credential == nil || ok.Credential.ID != clientID {
		t.Errorf("bearer: proxied %v, consumer %+v, credential %+v, logs %v", ok.Proxied, ok.Consumer, ok.Credential, ok.Logs)
	}
	want := map[string]string{"x-consumer-id": consumer.ID, "x-consumer-username": "web-app", "x-consumer-custom-id": "crm-17",
		"x-credential-identifier": clientID, "x-authenticated-userid": "user-4711", "x-authenticated-scope": "orders.read"}
	for h, v := range want {
		if got := ok.Upstream.Header[h]; len(got) != 1 || got[0] != v {
			t.Errorf("upstream %s = %q, want %q", h, got, v)
		}
	}

	if r := step(do(t, d, tokenRequest(passwordForm("wrong-provision-key")))); r.Status != 400 {
		t.Errorf("wrong provision key: %d", r.Status)
	}
	access2, refresh2 := tokens(t, step(do(t, d, tokenRequest(refreshForm(refresh)))))
	if r := step(do(t, d, bearerRequest(access))); r.Status != 401 || r.Proxied {
		t.Errorf("access token replaced by a refresh: %d, proxied %v", r.Status, r.Proxied)
	}
	if r := step(do(t, d, bearerRequest(access2))); !r.Proxied {
		t.Errorf("refreshed access token: %d %s", r.Status, r.Exit.Body)
	}
	intro := tokenRequest(url.Values{"token": {access2}, "client_id": {clientID}, "client_secret": {clientSecret}})
	intro.Path = "/api/oauth2/introspect"
	if r := step(do(t, d, intro)); r.Status != 200 || !strings.Contains(string(r.Exit.Body), `"active":true`) {
		t.Errorf("introspect: %d %s", r.Status, r.Exit.Body)
	}
	revoke := tokenRequest(url.Values{"token": {refresh2}, "client_id": {clientID}, "client_secret": {clientSecret}})
	revoke.Path = "/api/oauth2/revoke"
	if r := step(do(t, d, revoke)); r.Status != 200 {
		t.Errorf("revoke: %d", r.Status)
	}
	if r := step(do(t, d, bearerRequest(access2))); r.Status != 401 {
		t.Errorf("access token of a revoked grant: %d", r.Status)
	}
	if r := step(do(t, d, bearerRequest(""))); r.Status != 401 {
		t.Errorf("no token: %d", r.Status)
	}
	get := tokenRequest(passwordForm(provisionKey))
	get.Method = "GET"
	if r := step(do(t, d, get)); r.Status != 405 {
		t.Errorf("GET token endpoint: %d", r.Status)
	}
	return seen
}

// TestSameAnswersAsKongMode runs one flow (password grant, bearer with
// spoofed identity headers, a wrong provision key, refresh, the replaced
// token, introspection, revocation, no token, a GET on the token endpoint)
// through go-pluginserver and through Kong mode's binary and requires the
// same statuses, bodies, headers and upstream identity.
func TestSameAnswersAsKongMode(t *testing.T) {
	sameAsKongMode(t, map[string]any{"provision_key": provisionKey, "scopes": []string{"orders.read", "orders.write"}}, flow)
}

// TestAnonymousAndHiddenCredentialsAsKongMode: with anonymous and
// hide_credentials, a request without a token goes upstream as the
// anonymous consumer, and a token is stripped from the header or the query
// before the upstream sees it, in both modes alike.
func TestAnonymousAndHiddenCredentialsAsKongMode(t *testing.T) {
	config := map[string]any{"provision_key": provisionKey, "scopes": []string{"orders.read"},
		"anonymous": "guest", "hide_credentials": true}
	sameAsKongMode(t, config, func(t *testing.T, d doer) []string {
		access, _ := tokens(t, do(t, d, tokenRequest(passwordForm(provisionKey))))
		var seen []string
		anon := do(t, d, bearerRequest(""))
		if !anon.Proxied || anon.Consumer == nil || anon.Consumer.ID != guest.ID || anon.Credential != nil {
			t.Errorf("no token, anonymous: proxied %v, consumer %+v, credential %+v", anon.Proxied, anon.Consumer, anon.Credential)
		}
		seen = append(seen, observe(anon))
		header := do(t, d, bearerRequest(access))
		if _, ok := header.Upstream.Header["authorization"]; !header.Proxied || ok {
			t.Errorf("hide_credentials, header token: proxied %v, upstream authorization %q", header.Proxied, header.Upstream.Header["authorization"])
		}
		seen = append(seen, observe(header))
		q := &konghost.Request{Host: "api.test", Path: "/api/orders", RawQuery: "a=1&access_token=" + access + "&b=2"}
		query := do(t, d, q)
		if !query.Proxied || query.Upstream.RawQuery != "a=1&b=2" {
			t.Errorf("hide_credentials, query token: proxied %v, upstream query %q", query.Proxied, query.Upstream.RawQuery)
		}
		return append(seen, observe(query)+" query="+query.Upstream.RawQuery)
	})
}

// guest is the anonymous consumer.
var guest = konghost.Consumer{ID: "0b7d3c52-9a41-4e2f-8c6d-3e5f1a2b4c6d", Username: "guest"}

// sameAsKongMode runs run through go-pluginserver and through Kong mode's
// binary, each over its own embedded store holding the same client, and
// requires the same observations step by step.
func sameAsKongMode(t *testing.T, config map[string]any, run func(*testing.T, doer) []string) {
	db2 := harness.SQLiteURL(t)
	harness.CreateClient(t, db2, consumer.Username, "web", "--client-id", clientID, "--client-secret", clientSecret)
	k2 := startKong2(t, db2)
	k2.AddConsumer(consumer)
	k2.AddConsumer(guest)
	if _, err := k2.AddService("api", config); err != nil {
		t.Fatal(err)
	}
	waitStore(t, k2)

	db3 := harness.SQLiteURL(t)
	harness.CreateClient(t, db3, consumer.Username, "web", "--client-id", clientID, "--client-secret", clientSecret)
	k3 := harness.Start(t, db3)
	for _, c := range []konghost.Consumer{consumer, guest} {
		if _, err := k3.Host.AddConsumer(c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := k3.Host.AddService(konghost.ServiceSpec{Name: "api", Host: "api.test", Config: config}); err != nil {
		t.Fatal(err)
	}
	k3.WaitStore(t, "api")

	got, want := run(t, k2), run(t, k3.Host)
	for i := range want {
		if i >= len(got) || got[i] != want[i] {
			t.Errorf("step %d:\nKong 2.x:  %s\nKong mode: %s", i, at(got, i), want[i])
		}
	}
	if t.Failed() {
		t.Logf("Kong 2.x logs: %v", k2.Logs())
	}
}

func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return "(none)"
}
