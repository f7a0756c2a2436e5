package jwt

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/tests/harness"
	"github.com/oauth2-password/oauth2-password/tests/konghost"
)

// TestKongPhantomTokens: in Kong mode, through the real socket, the
// upstream gets a JWT it verifies against <route>/oauth2/jwks, at no extra
// PDK round trip; a JWT the client sends is removed or replaced; a revoked
// token gets none.
func TestKongPhantomTokens(t *testing.T) {
	t.Parallel()
	db := harness.SQLiteURL(t)
	st := harness.Start(t, db, "-signing-key", keyFile(t, "es256"), "-issuer", issuer)
	const pk = "pk-kong-0123456789"
	bob, err := st.Host.AddConsumer(konghost.Consumer{Username: "bob", CustomID: "crm-9"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Host.AddConsumer(konghost.Consumer{Username: "guest"}); err != nil {
		t.Fatal(err)
	}
	svc := map[string]konghost.Service{}
	for name, conf := range map[string]map[string]any{
		"api":  {"upstream_jwt": true, "upstream_jwt_ttl": 60},
		"own":  {"upstream_jwt": true, "upstream_jwt_header": "X-Identity"},
		"anon": {"upstream_jwt": true, "anonymous": "guest"},
	} {
		conf["provision_key"] = pk
		s, err := st.Host.AddService(konghost.ServiceSpec{Name: name, Host: name + ".test", Config: conf})
		if err != nil {
			t.Fatal(err)
		}
		svc[name] = s
	}
	st.WaitStore(t, "api")
	client := harness.CreateClient(t, db, "bob", "web")
	hc := st.Front.Client()
	send := func(method, u string, h http.Header, body string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, u, strings.NewReader(body))
		if h != nil {
			req.Header = h
		}
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, b
	}
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	grant := func(host string) string {
		t.Helper()
		_, b := send("POST", "https://"+host+"/oauth2/token", form.Clone(), url.Values{"grant_type": {"password"}, "provision_key": {pk},
			"authenticated_userid": {"user-k"}, "client_id": {client.ID}, "client_secret": {client.Secret}, "scope": {""}}.Encode())
		var tr harness.TokenResponse
		if json.Unmarshal(b, &tr) != nil || tr.AccessToken == "" {
			t.Fatalf("grant on %s: %s", host, b)
		}
		return tr.AccessToken
	}
	// upstream returns the echo of a proxied request: the request as the
	// upstream got it.
	upstreamOf := func(host string, h http.Header) (*konghost.Echo, *konghost.Result) {
		t.Helper()
		res, b := send("GET", "https://"+host+"/x", h, "")
		var ec konghost.Echo
		if res.StatusCode != 200 || json.Unmarshal(b, &ec) != nil {
			t.Fatalf("GET %s: %d %s", host, res.StatusCode, b)
		}
		ex, _ := st.Front.ExchangeOf(res)
		return &ec, ex.Result
	}
	first := func(ec *konghost.Echo, h string) string {
		if v := ec.Headers[h]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	jwks, _ := fetchJWKS(t, hc, "https://api.test/oauth2/jwks")

	upstreamOf("api.test", bearer(grant("api.test"))) // loads the consumer into the plugin's cache
	tok := grant("api.test")
	for i := range 2 { // signed, then from the cache: 4 round trips both times
		ec, res := upstreamOf("api.test", bearer(tok))
		c, err := verifyJWT(jwks, first(ec, "authorization"), svc["api"].ServiceID, time.Now())
		if err != nil {
			t.Fatalf("request %d: the upstream's JWT does not verify: %v", i, err)
		}
		if c.Subject != "user-k" || c.ClientID != client.ID || c.ConsumerID != bob.ID || c.ConsumerUsername != "bob" || c.ConsumerCustomID != "crm-9" {
			t.Errorf("claims %+v", c)
		}
		if res.RoundTrips != 4 {
			t.Errorf("request %d: %d PDK round trips %v, want 4", i, res.RoundTrips, res.Calls)
		}
	}

	// The operator's header: the client's copy replaced, the opaque token
	// left where it was.
	f := forged(t)
	h := bearer(grant("own.test"))
	h.Set("X-Identity", "Bearer "+f)
	ec, _ := upstreamOf("own.test", h)
	if _, err := verifyJWT(jwks, first(ec, "x-identity"), svc["own"].ServiceID, time.Now()); err != nil {
		t.Errorf("X-Identity: %v", err)
	}
	// Anonymous: a client's JWT, forged or replayed, never reaches the upstream.
	replayed := strings.TrimPrefix(first(ec, "x-identity"), "Bearer ")
	for _, jwt := range []string{f, replayed} {
		if ec, _ := upstreamOf("anon.test", bearer(jwt)); first(ec, "authorization") != "" {
			t.Errorf("anonymous: the client's JWT reached the upstream")
		}
	}

	// Revoked at this node: no JWT, 401.
	res, b := send("POST", "https://api.test/oauth2/revoke", form.Clone(), url.Values{"token": {tok},
		"client_id": {client.ID}, "client_secret": {client.Secret}}.Encode())
	if res.StatusCode != 200 {
		t.Fatalf("revoke: %d %s", res.StatusCode, b)
	}
	if res, b := send("GET", "https://api.test/x", bearer(tok), ""); res.StatusCode != 401 {
		t.Errorf("revoked token: %d %s, want 401", res.StatusCode, b)
	}
}
