package proxies

import (
	"strings"
	"testing"

	"github.com/oauth2-password/oauth2-password/store/pgtest"
)

// TestStoreOutage: serve's PostgreSQL stops, then serve itself. What the
// client of each proxy sees is what the README says:
//   - store down: serve answers forward auth 503 with Retry-After. Caddy
//     passes that on as it is; nginx's auth_request would turn it into
//     500, and our nginx.conf answers 503 temporarily_unavailable with
//     serve's Retry-After instead. The token endpoint is proxied, not a
//     forward-auth call: 503 temporarily_unavailable through both.
//   - serve down: nginx.conf answers the same 503 (no Retry-After); Caddy
//     answers 502 with an empty body.
//
// No request reaches the API meanwhile.
func TestStoreOutage(t *testing.T) {
	pg, err := pgtest.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Close)
	b := startBackend(t, pg.URL(), "-store-timeout", "1s")
	proxies := map[string]*proxy{}
	for _, name := range proxyNames {
		proxies[name] = proxyFor(t, name, b.serveAddr(), b.api.addr())
		proxies[name].mustToken(t, b.bob, "user-before", "") // the store works
	}
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	for name, p := range proxies {
		path := "/outage/" + name
		// A token serve never saw is in no cache: serve has to ask the store.
		a := p.do(t, "GET", path, "not-cached-anywhere", nil, "")
		if a.status != 503 || a.header.Get("Retry-After") != "1" || a.jsonBody(t)["error"] != "temporarily_unavailable" {
			t.Errorf("%s, store down: %d Retry-After %q %s, want 503 temporarily_unavailable with Retry-After 1",
				name, a.status, a.header.Get("Retry-After"), a.body)
		}
		tr := p.token(t, passwordForm(b.bob, "user-outage", ""))
		if tr.Status != 503 || tr.Error != "temporarily_unavailable" {
			t.Errorf("%s, store down: token request answered %d %s, want 503 temporarily_unavailable", name, tr.Status, tr.Error)
		}
		if b.api.reached(path) {
			t.Errorf("%s, store down: the request reached the API", name)
		}
	}

	if err := b.serve.Stop(t); err != nil {
		t.Fatalf("serve did not stop cleanly: %v", err)
	}
	for name, p := range proxies {
		path := "/serve-down/" + name
		a := p.do(t, "GET", path, "any-token", nil, "")
		switch name {
		case "nginx":
			if a.status != 503 || a.header.Get("Retry-After") != "" || a.jsonBody(t)["error"] != "temporarily_unavailable" {
				t.Errorf("nginx, serve down: %d Retry-After %q %s, want 503 temporarily_unavailable", a.status, a.header.Get("Retry-After"), a.body)
			}
		case "caddy":
			if a.status != 502 || strings.TrimSpace(string(a.body)) != "" {
				t.Errorf("caddy, serve down: %d %q, want 502 with no body", a.status, a.body)
			}
		}
		if b.api.reached(path) {
			t.Errorf("%s, serve down: the request reached the API", name)
		}
	}
}
