package e2e

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/oauth2-password/oauth2-password/tests/harness"
	"github.com/oauth2-password/oauth2-password/tests/konghost"
)

// postForm posts a form to rawURL with Basic client credentials.
func (e *env) postForm(rawURL string, c harness.Client, form url.Values) reply {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, rawURL, strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(c.ID+":"+c.Secret)))
	return do(e.t, e.hc, req)
}

// TestKongRevokeAndIntrospect: RFC 7662 and RFC 7009 on a Kong route, in
// the request shapes of the RFCs' examples, through the real socket: the
// introspection answer, revocation of a refresh token ending its grant,
// and tokens of another service staying invisible.
func TestKongRevokeAndIntrospect(t *testing.T) {
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			db := sc.url(t)
			e := start(t, db)
			e.consumer(konghost.Consumer{Username: "bob"})
			const pk = "pk-orders-0123456789"
			e.service(konghost.ServiceSpec{Name: "orders", Host: "orders.test", Config: map[string]any{"provision_key": pk, "scopes": []string{"read"}}})
			e.service(konghost.ServiceSpec{Name: "billing", Host: "billing.test", Config: map[string]any{"provision_key": pk}})
			c := harness.CreateClient(t, db, "bob", "web")
			tk := e.grant("orders.test", c, pk, "user-9", "read")

			r := e.postForm("https://orders.test/api/oauth2/introspect", c, url.Values{"token": {tk.AccessToken}, "token_type_hint": {"access_token"}})
			m := r.json(t)
			if r.StatusCode != 200 || m["active"] != true || m["sub"] != "user-9" || m["username"] != "bob" || m["scope"] != "read" ||
				m["client_id"] != c.ID || m["token_type"] != "bearer" || m["exp"].(float64)-m["iat"].(float64) != 7200 {
				t.Fatalf("introspection: %d %s", r.StatusCode, r.body)
			}
			if r := e.postForm("https://billing.test/oauth2/introspect", c, url.Values{"token": {tk.AccessToken}}); string(r.body) != `{"active":false}` {
				t.Errorf("introspection on another service: %d %s", r.StatusCode, r.body)
			}
			// Revocation on another service changes nothing.
			if r := e.postForm("https://billing.test/oauth2/revoke", c, url.Values{"token": {tk.RefreshToken}}); r.StatusCode != 200 {
				t.Errorf("revocation on another service: %d %s", r.StatusCode, r.body)
			}
			e.get("https://orders.test/orders", tk.AccessToken).echo(t)

			r = e.postForm("https://orders.test/oauth2/revoke/", c, url.Values{"token": {tk.RefreshToken}, "token_type_hint": {"refresh_token"}})
			if r.StatusCode != 200 || len(r.body) != 0 {
				t.Fatalf("revocation: %d %s", r.StatusCode, r.body)
			}
			wantRefused(t, e.get("https://orders.test/orders", tk.AccessToken), "", descInvalid)
			if r := e.postForm("https://orders.test/oauth2/introspect", c, url.Values{"token": {tk.RefreshToken}, "token_type_hint": {"refresh_token"}}); string(r.body) != `{"active":false}` {
				t.Errorf("revoked refresh token: %d %s", r.StatusCode, r.body)
			}
			_, tr := e.postToken("orders.test", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tk.RefreshToken},
				"client_id": {c.ID}, "client_secret": {c.Secret}})
			if tr.Status != 400 {
				t.Errorf("refresh with a revoked refresh token: %d %s", tr.Status, tr.Error)
			}
		})
	}
}
