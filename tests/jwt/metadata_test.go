package jwt

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/oauth2-password/oauth2-password/tests/harness"
	"github.com/oauth2-password/oauth2-password/tests/konghost"
)

// metadataPath is RFC 8414 §3's well-known path.
const metadataPath = "/.well-known/oauth-authorization-server"

// getJSON is a GET answered with a JSON object.
func getJSON(t *testing.T, hc *http.Client, u string) (*http.Response, map[string]any) {
	t.Helper()
	res, err := hc.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("GET %s: %d %s", u, res.StatusCode, b)
	}
	return res, m
}

// TestKongMetadata: in Kong mode, through the real socket,
// <route>/.well-known/oauth-authorization-server is RFC 8414 metadata
// naming the endpoints of that route as the client reached it, the same
// document as serve's for the same endpoints; without a signing key the
// path is validated and proxied like any other.
func TestKongMetadata(t *testing.T) {
	t.Parallel()
	db := harness.SQLiteURL(t)
	st := harness.Start(t, db, "-signing-key", keyFile(t, "ed25519"), "-issuer", issuer)
	const pk = "pk-meta-0123456789"
	if _, err := st.Host.AddConsumer(konghost.Consumer{Username: "bob"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Host.AddService(konghost.ServiceSpec{Name: "api", Host: "api.test", Config: map[string]any{"provision_key": pk}}); err != nil {
		t.Fatal(err)
	}
	st.WaitStore(t, "api")
	hc := st.Front.Client()

	for _, route := range []string{"", "/orders"} {
		res, m := getJSON(t, hc, "https://api.test"+route+metadataPath)
		if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("%s: %d %s %v", route, res.StatusCode, res.Header.Get("Content-Type"), m)
		}
		if cc := res.Header.Get("Cache-Control"); cc != "public, max-age=300" {
			t.Errorf("%s: Cache-Control %q, want the JWKS's (public, max-age=300)", route, cc)
		}
		// RFC 8414 §2 REQUIRED: issuer, response_types_supported (an
		// array; empty: no authorization endpoint); token_endpoint (the
		// password grant is not implicit-only).
		if m["issuer"] != issuer {
			t.Errorf("%s: issuer %v, want %s", route, m["issuer"], issuer)
		}
		if rt, ok := m["response_types_supported"].([]any); !ok || len(rt) != 0 {
			t.Errorf("%s: response_types_supported %v, want []", route, m["response_types_supported"])
		}
		base := "https://api.test" + route + "/oauth2/"
		want := map[string]string{"token_endpoint": base + "token", "revocation_endpoint": base + "revoke",
			"introspection_endpoint": base + "introspect", "jwks_uri": base + "jwks"}
		for f, w := range want {
			if m[f] != w {
				t.Errorf("%s: %s = %v, want %s", route, f, m[f], w)
			}
		}
		// Every endpoint listed is this route's, answered by the plugin.
		for _, f := range []string{"token_endpoint", "revocation_endpoint", "introspection_endpoint"} {
			res, err := hc.PostForm(want[f], url.Values{})
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 400 && res.StatusCode != 401 || !strings.Contains(string(b), `"error":"invalid_`) {
				t.Errorf("%s: POST %s: %d %s, want an RFC 6749 error of the plugin", route, f, res.StatusCode, b)
			}
		}
		if set, _ := fetchJWKS(t, hc, want["jwks_uri"]); len(set.Keys) != 1 {
			t.Errorf("%s: jwks_uri has %d keys", route, len(set.Keys))
		}
		if route != "" {
			continue
		}
		// serve's document for the same endpoints: the same JSON, but for
		// serve's per-service extension.
		s := startServe(t, harness.SQLiteURL(t), nil, keyFile(t, "ed25519"))
		_, sm := getJSON(t, http.DefaultClient, s.serve.URL+metadataPath)
		delete(sm, "oauth2_password_services")
		maps.Copy(sm, map[string]any{"token_endpoint": want["token_endpoint"], "revocation_endpoint": want["revocation_endpoint"],
			"introspection_endpoint": want["introspection_endpoint"], "jwks_uri": want["jwks_uri"]})
		if !reflect.DeepEqual(m, sm) {
			t.Errorf("Kong's metadata\n%v\nis not serve's for the same endpoints\n%v", m, sm)
		}
	}
	if res, err := hc.Post("https://api.test"+metadataPath, "text/plain", nil); err != nil || res.StatusCode != 405 {
		t.Errorf("POST metadata: %v %v, want 405", res.StatusCode, err)
	} else {
		res.Body.Close()
	}

	// No signing key: the path is the upstream's, behind the plugin.
	db2 := harness.SQLiteURL(t)
	bare := harness.Start(t, db2)
	if _, err := bare.Host.AddConsumer(konghost.Consumer{Username: "bob"}); err != nil {
		t.Fatal(err)
	}
	if _, err := bare.Host.AddService(konghost.ServiceSpec{Name: "api", Host: "api.test", Config: map[string]any{"provision_key": pk}}); err != nil {
		t.Fatal(err)
	}
	bare.WaitStore(t, "api")
	bhc := bare.Front.Client()
	if res, m := getJSON(t, bhc, "https://api.test"+metadataPath); res.StatusCode != 401 {
		t.Errorf("no key, no token: %d %v, want 401 (validated like any path)", res.StatusCode, m)
	}
	client := harness.CreateClient(t, db2, "bob", "web")
	res, err := bhc.PostForm("https://api.test/oauth2/token", url.Values{"grant_type": {"password"}, "provision_key": {pk},
		"authenticated_userid": {"user-m"}, "client_id": {client.ID}, "client_secret": {client.Secret}})
	if err != nil {
		t.Fatal(err)
	}
	var tr harness.TokenResponse
	if err := json.NewDecoder(res.Body).Decode(&tr); err != nil || tr.AccessToken == "" {
		t.Fatalf("grant: %d %v", res.StatusCode, err)
	}
	res.Body.Close()
	req, _ := http.NewRequest("GET", "https://api.test"+metadataPath, nil)
	req.Header = bearer(tr.AccessToken)
	res, err = bhc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var ec konghost.Echo
	if err := json.NewDecoder(res.Body).Decode(&ec); err != nil || res.StatusCode != 200 || ec.Path != metadataPath {
		t.Errorf("no key, valid token: %d %+v %v, want the upstream's answer", res.StatusCode, ec, err)
	}
}
