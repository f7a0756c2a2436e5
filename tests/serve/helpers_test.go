// Package serve tests `oauth2-password serve`, the real binary on a real
// port: the OAuth2 endpoints, forward auth, health, configuration errors
// and shutdown.
package serve

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/oauth2-password/oauth2-password/tests/harness"
)

const provisionKey = "pk-orders-0123456789"

// ordersConfig has two services: orders and billing, both with scopes.
var ordersConfig = harness.ServeConfig(
	"  orders:\n    provision_key: \""+provisionKey+"\"\n    scopes: [email, profile]",
	"  billing:\n    provision_key: \""+provisionKey+"\"",
)

// answer is an HTTP response with its body read.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(a.body, &m); err != nil {
		t.Fatalf("%d %q is not JSON: %v", a.status, a.body, err)
	}
	return m
}

func do(t *testing.T, c *http.Client, req *http.Request) answer {
	t.Helper()
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return answer{res.StatusCode, res.Header, b}
}

// post sends a form; header pairs follow.
func post(t *testing.T, s *harness.Serve, path string, form url.Values, header ...string) answer {
	t.Helper()
	req, _ := http.NewRequest("POST", s.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return do(t, s.Client, req)
}

// get sends a GET; header pairs follow.
func get(t *testing.T, s *harness.Serve, path string, header ...string) answer {
	t.Helper()
	req, _ := http.NewRequest("GET", s.URL+path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return do(t, s.Client, req)
}

// tokens is a token endpoint answer.
type tokens struct {
	Access  string `json:"access_token"`
	Refresh string `json:"refresh_token"`
	Type    string `json:"token_type"`
	Expires int64  `json:"expires_in"`
}

// grant runs the password grant on service and fails the test unless it
// answers 200.
func grant(t *testing.T, s *harness.Serve, service string, c harness.Client, user, scope string) tokens {
	t.Helper()
	a := post(t, s, "/services/"+service+"/oauth2/token", url.Values{"grant_type": {"password"}, "provision_key": {provisionKey},
		"authenticated_userid": {user}, "client_id": {c.ID}, "client_secret": {c.Secret}, "scope": {scope}})
	var tk tokens
	if a.status != 200 || json.Unmarshal(a.body, &tk) != nil || tk.Access == "" {
		t.Fatalf("password grant on %s: %d %s", service, a.status, a.body)
	}
	return tk
}
