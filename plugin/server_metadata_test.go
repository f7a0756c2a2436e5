package plugin

import (
	"encoding/json"
	"testing"

	"github.com/oauth2-password/oauth2-password/plugin/jwtkeys"
)

// TestKongMetadataEndpoint: <route>/.well-known/oauth-authorization-server
// names the endpoints of the route the client asked, as it reached it; a
// server without keys leaves the path to the upstream, as before.
func TestKongMetadataEndpoint(t *testing.T) {
	v := newJWTEnv(t, newSigner(t, jwtkeys.TypeEd25519))
	c := v.config("")
	for _, tc := range []struct {
		name, scheme, host, path, base string
	}{
		{"route prefix", "https", "api.example.com", "/orders/.well-known/oauth-authorization-server", "https://api.example.com/orders/oauth2/"},
		{"root, trailing slash, port", "http", "127.0.0.1:8000", "/.well-known/oauth-authorization-server/", "http://127.0.0.1:8000/oauth2/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := v.kong()
			f.scheme, f.path, f.headers["host"] = tc.scheme, tc.path, []string{tc.host}
			access(c, f)
			var m map[string]any
			if err := json.Unmarshal(f.respBody, &m); f.status != 200 || err != nil {
				t.Fatalf("GET metadata: %d %s (%v)", f.status, f.respBody, err)
			}
			want := map[string]string{"issuer": testIssuer, "token_endpoint": tc.base + "token", "revocation_endpoint": tc.base + "revoke",
				"introspection_endpoint": tc.base + "introspect", "jwks_uri": tc.base + "jwks"}
			for k, w := range want {
				if m[k] != w {
					t.Errorf("%s = %v, want %s", k, m[k], w)
				}
			}
			if _, ok := m["oauth2_password_services"]; ok {
				t.Error("Kong mode lists serve's services")
			}
			if f.respHeader("Cache-Control") != "public, max-age=300" || f.respHeader("Content-Type") != contentTypeJSON {
				t.Errorf("Cache-Control %q, Content-Type %q", f.respHeader("Cache-Control"), f.respHeader("Content-Type"))
			}
			if f.endpoint != endpointMetadata {
				t.Errorf("endpoint %q", f.endpoint)
			}
		})
	}

	f := v.kong()
	f.method, f.path = "POST", "/.well-known/oauth-authorization-server"
	access(c, f)
	if f.status != 405 || f.respHeader("Allow") != "GET, HEAD" {
		t.Errorf("POST metadata: %d Allow %q", f.status, f.respHeader("Allow"))
	}
	f = v.kong()
	f.path = "/.well-known/oauth-authorization-server"
	f.headers["host"] = []string{"evil.example/x?"}
	access(c, f)
	if f.status != 400 {
		t.Errorf("bad Host: %d %s, want 400", f.status, f.respBody)
	}

	bare := newEnv(t)
	f = bare.kong()
	f.path = "/.well-known/oauth-authorization-server"
	access(bare.config(""), f)
	if f.status != 401 {
		t.Errorf("no keys: %d, want the path validated as any other (401)", f.status)
	}
}
