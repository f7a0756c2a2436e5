package jwt

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/tests/harness"
)

// TestServeKeyRotation follows the documented rotation: a new key is
// published beside the current one, then made current. JWTs signed by the
// old key keep verifying against the JWKS until they expire, and the JWKS
// shows both keys.
func TestServeKeyRotation(t *testing.T) {
	t.Parallel()
	db := harness.SQLiteURL(t)
	oldKey, newKey := keyFile(t, "ed25519"), keyFile(t, "es256")
	s := startServe(t, db, nil, oldKey)
	client := s.client
	old := s.jwtOf(t, "orders")
	oldSet, _ := fetchJWKS(t, http.DefaultClient, s.serve.URL+"/.well-known/jwks.json")
	if len(oldSet.Keys) != 1 {
		t.Fatalf("JWKS with one key has %d", len(oldSet.Keys))
	}
	if err := s.serve.Stop(t); err != nil {
		t.Fatal(err)
	}

	// The new key first (it signs), the old one still published.
	s = startServe(t, db, &client, newKey, oldKey)
	set, h := fetchJWKS(t, http.DefaultClient, s.serve.URL+"/.well-known/jwks.json")
	if len(set.Keys) != 2 || set.Keys[1].KeyID != oldSet.Keys[0].KeyID {
		t.Fatalf("JWKS after rotation: %d keys, want the new one and %s", len(set.Keys), oldSet.Keys[0].KeyID)
	}
	if cc := h.Get("Cache-Control"); !strings.Contains(cc, "max-age=") {
		t.Errorf("JWKS Cache-Control %q: a verifier needs to know when to fetch it again", cc)
	}
	if c, err := verifyJWT(set, "Bearer "+old, "orders", time.Now()); err != nil || c.KID != oldSet.Keys[0].KeyID {
		t.Errorf("a JWT of the old key no longer verifies after rotation: %v", err)
	}
	fresh := s.jwtOf(t, "orders")
	if c, err := verifyJWT(set, "Bearer "+fresh, "orders", time.Now()); err != nil || c.KID != set.Keys[0].KeyID {
		t.Errorf("a new JWT: kid %s, %v; want the new key %s", c.KID, err, set.Keys[0].KeyID)
	}
	// Once the old key is dropped, its JWTs stop verifying.
	if err := s.serve.Stop(t); err != nil {
		t.Fatal(err)
	}
	s = startServe(t, db, &client, newKey)
	set, _ = fetchJWKS(t, http.DefaultClient, s.serve.URL+"/.well-known/jwks.json")
	if _, err := verifyJWT(set, "Bearer "+old, "orders", time.Now()); err == nil {
		t.Error("a JWT of a key no longer published still verifies")
	}

	t.Run("RFC 8414 metadata", func(t *testing.T) { checkMetadata(t, s) })
}

// checkMetadata validates the metadata against RFC 8414 §2 and §3.
func checkMetadata(t *testing.T, s *server) {
	res, err := http.Get(s.serve.URL + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var m map[string]any
	if res.StatusCode != 200 || json.Unmarshal(b, &m) != nil {
		t.Fatalf("metadata: %d %s", res.StatusCode, b)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json (§3.2)", ct)
	}
	// §3.3: issuer is the identifier the well-known URI was built from;
	// §2: an https URL with no query or fragment.
	if m["issuer"] != issuer {
		t.Errorf("issuer %v, want %s", m["issuer"], issuer)
	}
	// §2 REQUIRED: issuer, response_types_supported; token_endpoint unless
	// only implicit is supported; authorization_endpoint only if a grant
	// type uses it (password and refresh_token do not).
	for _, f := range []string{"issuer", "response_types_supported", "token_endpoint"} {
		if _, ok := m[f]; !ok {
			t.Errorf("required field %s missing", f)
		}
	}
	if _, ok := m["response_types_supported"].([]any); !ok {
		t.Errorf("response_types_supported %v is not a JSON array", m["response_types_supported"])
	}
	grants, _ := m["grant_types_supported"].([]any)
	if len(grants) != 2 || grants[0] != "password" || grants[1] != "refresh_token" {
		t.Errorf("grant_types_supported %v", m["grant_types_supported"])
	}
	// Each lists the methods its endpoint accepts: public clients ("none")
	// may get and revoke tokens, not introspect them.
	for f, want := range map[string]string{
		"token_endpoint_auth_methods_supported":         "[client_secret_basic client_secret_post none]",
		"revocation_endpoint_auth_methods_supported":    "[client_secret_basic client_secret_post none]",
		"introspection_endpoint_auth_methods_supported": "[client_secret_basic client_secret_post]",
	} {
		if got := fmt.Sprint(m[f]); got != want {
			t.Errorf("%s: %s, want %s", f, got, want)
		}
	}
	// Every URL is under the issuer, and the paths are served here.
	for f, method := range map[string]string{"token_endpoint": "POST", "revocation_endpoint": "POST", "introspection_endpoint": "POST", "jwks_uri": "GET"} {
		u, _ := m[f].(string)
		p, ok := strings.CutPrefix(u, issuer)
		if !ok {
			t.Errorf("%s %q is not under the issuer", f, u)
			continue
		}
		req, _ := http.NewRequest(method, s.serve.URL+p, strings.NewReader(url.Values{}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode == 404 {
			t.Errorf("%s %s: 404", f, p)
		}
	}
}
