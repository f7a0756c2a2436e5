package e2e

import (
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/tests/harness"
	"github.com/oauth2-password/oauth2-password/tests/konghost"
)

// TestServicesKeepTheirOwnConfig: one plugin process serves several
// services, each with its own configuration, and tokens stay scoped to the
// service that issued them (kong/BEHAVIOUR.md §9).
func TestServicesKeepTheirOwnConfig(t *testing.T) {
	t.Parallel()
	db := harness.SQLiteURL(t)
	e := start(t, db)
	e.consumer(konghost.Consumer{Username: "bob"})
	const pk = "pk-shared-0123456789"
	conf := func(kv ...any) map[string]any {
		m := map[string]any{"provision_key": pk}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	e.service(konghost.ServiceSpec{Name: "orders", Host: "orders.test",
		Config: conf("scopes", []string{"orders.read"}, "realm", "orders")})
	e.service(konghost.ServiceSpec{Name: "billing", Host: "billing.test",
		Config: conf("scopes", []string{"billing.read"}, "token_expiration", 600)})
	e.service(konghost.ServiceSpec{Name: "short", Host: "short.test", Config: conf("token_expiration", 1)})
	e.service(konghost.ServiceSpec{Name: "g1", Host: "g1.test", Config: conf("global_credentials", true)})
	e.service(konghost.ServiceSpec{Name: "g2", Host: "g2.test", Config: conf("global_credentials", true, "realm", "g2")})
	// A plugin on the route only: Kong sends no service_id in its config.
	e.service(konghost.ServiceSpec{Name: "routed", Host: "routed.test", Scope: konghost.ScopeRoute, Config: conf()})
	c := harness.CreateClient(t, db, "bob", "web")

	tok := map[string]harness.TokenResponse{}
	for _, s := range []struct{ host, scope string }{
		{"orders.test", "orders.read"}, {"billing.test", "billing.read"}, {"g1.test", ""}, {"routed.test", ""},
	} {
		tok[s.host] = e.grant(s.host, c, pk, "u-1", s.scope)
	}

	t.Run("expires_in follows the service", func(t *testing.T) {
		for host, want := range map[string]int{"orders.test": 7200, "billing.test": 600, "g1.test": 7200} {
			if got := tok[host].ExpiresIn; got != want {
				t.Errorf("%s: expires_in %d, want %d", host, got, want)
			}
		}
	})

	t.Run("where each token works", func(t *testing.T) {
		tests := []struct {
			token, host string
			realm, desc string // for a refusal; desc "" = accepted
		}{
			{"orders.test", "orders.test", "", ""},
			{"orders.test", "billing.test", "", descInvalid},
			{"billing.test", "orders.test", "orders", descInvalid},
			{"billing.test", "billing.test", "", ""},
			{"g1.test", "g1.test", "", ""},
			{"g1.test", "g2.test", "", ""},
			{"g1.test", "orders.test", "orders", descGlobal},
			{"g1.test", "billing.test", "", descGlobal},
			// A service-scoped token is refused by a global plugin of
			// another service too.
			{"orders.test", "g2.test", "g2", descInvalid},
			// The route-bound plugin learned its service: its tokens are
			// scoped to it, and other services' tokens are refused there.
			{"routed.test", "routed.test", "", ""},
			{"routed.test", "orders.test", "orders", descInvalid},
			{"routed.test", "g1.test", "", descInvalid},
			{"orders.test", "routed.test", "", descInvalid},
		}
		for _, tt := range tests {
			r := e.get("https://"+tt.host+"/resource", tok[tt.token].AccessToken)
			if tt.desc == "" {
				if r.StatusCode != 200 {
					t.Errorf("%s token on %s: %d %s, want 200", tt.token, tt.host, r.StatusCode, r.body)
				}
				continue
			}
			t.Run(tt.token+" on "+tt.host, func(t *testing.T) { wantRefused(t, r, tt.realm, tt.desc) })
		}
	})

	t.Run("scopes follow the service", func(t *testing.T) {
		_, tr := e.postToken("orders.test", passwordForm(c, pk, "u-1", "billing.read"))
		if tr.Status != 400 || tr.Error != "invalid_scope" || tr.ErrorDescription != `"billing.read" is an invalid scope` {
			t.Errorf("billing.read on orders: %d %s %q", tr.Status, tr.Error, tr.ErrorDescription)
		}
		if tr := e.grant("billing.test", c, pk, "u-1", "billing.read"); tr.AccessToken == "" {
			t.Error("no token")
		}
	})

	t.Run("realm follows the service", func(t *testing.T) {
		for host, want := range map[string]string{"orders.test": `Bearer realm="orders"`, "billing.test": `Bearer`} {
			r := e.get("https://"+host+"/resource", "")
			if r.StatusCode != 401 || r.Header.Get("WWW-Authenticate") != want {
				t.Errorf("no token on %s: %d WWW-Authenticate %q, want %q", host, r.StatusCode, r.Header.Get("WWW-Authenticate"), want)
			}
			if m := r.json(t); m["error"] != "invalid_request" || m["error_description"] != "The access token is missing" {
				t.Errorf("no token on %s: body %s", host, r.body)
			}
		}
		wantRefused(t, e.get("https://orders.test/resource", "not-a-token"), "orders", descInvalid)
		wantRefused(t, e.get("https://billing.test/resource", "not-a-token"), "", descInvalid)
	})

	t.Run("token_expiration of 1 s", func(t *testing.T) {
		issued := time.Now() // before the grant: waited below is never too short
		st := e.grant("short.test", c, pk, "u-1", "")
		if st.ExpiresIn != 1 {
			t.Errorf("expires_in %d, want 1", st.ExpiresIn)
		}
		if r := e.get("https://short.test/resource", st.AccessToken); r.StatusCode != 200 && time.Since(issued) < time.Second {
			t.Fatalf("fresh token refused: %d %s", r.StatusCode, r.body)
		}
		// Valid while now - issued_at <= expires_in, in whole seconds:
		// refused at the latest 3 s after issue.
		r := e.waitRefused("https://short.test/resource", st.AccessToken, 4*time.Second)
		wantRefused(t, r, "", descInvalid)
		if waited := time.Since(issued); waited < time.Second {
			t.Errorf("refused after %v, before its second was up", waited)
		}
		// The same client's token on a service with a longer lifetime is
		// still good.
		if r := e.get("https://billing.test/resource", tok["billing.test"].AccessToken); r.StatusCode != 200 {
			t.Errorf("billing token: %d", r.StatusCode)
		}
	})
}
