package proxies

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/oauth2-password/oauth2-password/tests/fwdauth"
	"github.com/oauth2-password/oauth2-password/tests/harness"
)

// traefikConfig is the part of traefik.yml the tests read.
type traefikConfig struct {
	HTTP struct {
		Middlewares map[string]struct {
			ForwardAuth *struct {
				Address             string   `yaml:"address"`
				TrustForwardHeader  bool     `yaml:"trustForwardHeader"`
				AuthResponseHeaders []string `yaml:"authResponseHeaders"`
			} `yaml:"forwardAuth"`
			Headers *struct {
				CustomRequestHeaders map[string]string `yaml:"customRequestHeaders"`
			} `yaml:"headers"`
		} `yaml:"middlewares"`
	} `yaml:"http"`
}

// readTraefik reads traefik.yml's forwardAuth and headers middlewares.
func readTraefik(t *testing.T) (auth *fwdauth.Gateway, trustForward bool) {
	t.Helper()
	raw, err := os.ReadFile("../../deploy/traefik/traefik.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c traefikConfig
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("traefik.yml: %v", err)
	}
	auth = &fwdauth.Gateway{Proto: "https"}
	found := 0
	for _, m := range c.HTTP.Middlewares {
		if fa := m.ForwardAuth; fa != nil {
			found++
			auth.Address, auth.ResponseHeaders, trustForward = fa.Address, fa.AuthResponseHeaders, fa.TrustForwardHeader
		}
		if h := m.Headers; h != nil {
			for k, v := range h.CustomRequestHeaders {
				if v == "" {
					auth.RemoveHeaders = append(auth.RemoveHeaders, k)
				}
			}
		}
	}
	if found != 1 {
		t.Fatalf("traefik.yml has %d forwardAuth middlewares, want 1", found)
	}
	return auth, trustForward
}

// TestTraefikContract checks what traefik.yml relies on, against the real
// serve: the forwardAuth address, authResponseHeaders naming exactly the
// headers serve answers, and a request flow through a proxy that behaves
// as Traefik's ForwardAuth does (tests/fwdauth).
func TestTraefikContract(t *testing.T) {
	auth, trustForward := readTraefik(t)
	if trustForward {
		t.Error("traefik.yml: trustForwardHeader must be false: clients would choose X-Forwarded-Uri")
	}
	u, err := url.Parse(auth.Address)
	if err != nil || u.Path != "/services/orders/auth" {
		t.Fatalf("traefik.yml: forwardAuth address %q, want serve's /services/orders/auth", auth.Address)
	}
	var listed []string
	for _, h := range auth.ResponseHeaders {
		listed = append(listed, http.CanonicalHeaderKey(h))
	}
	var want []string
	for _, h := range identityHeaders {
		want = append(want, http.CanonicalHeaderKey(h))
	}
	slices.Sort(listed)
	slices.Sort(want)
	if !slices.Equal(listed, want) {
		t.Errorf("traefik.yml: authResponseHeaders %v, want %v", listed, want)
	}
	if !slices.Contains(auth.RemoveHeaders, "Authorization") {
		t.Errorf("traefik.yml: no headers middleware removing Authorization (hide_credentials)")
	}

	b := startBackend(t, harness.SQLiteURL(t))
	u.Host = b.serveAddr()
	auth.Address = u.String()
	target, _ := url.Parse(b.api.URL)
	auth.Next = httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(auth)
	t.Cleanup(front.Close)
	p := &proxy{name: "traefik-like", url: front.URL, hc: front.Client(), passesDenialBody: true}

	// Every header serve answers to an allowed request is one Traefik
	// copies: a full identity, and the anonymous consumer.
	bob := directToken(t, b, "orders", "user-42", "orders.read").AccessToken
	answered := map[string]bool{}
	for _, c := range []struct{ service, token string }{{"orders", bob}, {"open", ""}} {
		req, _ := http.NewRequest("GET", b.serve.URL+"/services/"+c.service+"/auth", nil)
		req.Header.Set("X-Forwarded-Method", "GET")
		req.Header.Set("X-Forwarded-Uri", "/orders/1")
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("forward auth of %s: %d", c.service, resp.StatusCode)
		}
		for k := range resp.Header {
			switch k {
			case "Date", "Content-Length", "Content-Type":
			default:
				answered[k] = true
			}
		}
	}
	for k := range answered {
		if !slices.Contains(listed, k) {
			t.Errorf("serve answers %s, which traefik.yml's authResponseHeaders does not copy", k)
		}
	}
	if !answered["X-Anonymous-Consumer"] || !answered["X-Authenticated-Scope"] {
		t.Errorf("serve answered %v: want the anonymous and scope headers among them", answered)
	}

	t.Run("identity, spoofed headers", func(t *testing.T) {
		e := p.do(t, "GET", "/orders/1", bob, spoofed(), "").echo(t)
		for name, want := range map[string]string{"X-Consumer-ID": harness.ConsumerID, "X-Consumer-Custom-ID": "crm-17",
			"X-Consumer-Username": "bob", "X-Credential-Identifier": b.bob.ID, "X-Authenticated-Userid": "user-42",
			"X-Authenticated-Scope": "orders.read"} {
			if got, _ := e.has(name); got != want {
				t.Errorf("the API got %s %q, want %q", name, got, want)
			}
		}
		if v, ok := e.has("X-Anonymous-Consumer"); ok {
			t.Errorf("the API got X-Anonymous-Consumer %q", v)
		}
		if _, ok := e.has("Authorization"); ok {
			t.Error("the API got the Authorization header")
		}
	})
	t.Run("token in X-Forwarded-Uri", func(t *testing.T) {
		e := p.do(t, "POST", "/orders?access_token="+url.QueryEscape(bob), "", spoofed(), "line").echo(t)
		if got, _ := e.has("X-Authenticated-Userid"); got != "user-42" || e.Body != "line" {
			t.Errorf("the API got X-Authenticated-Userid %q and body %q", got, e.Body)
		}
	})
	t.Run("missing and unknown tokens", func(t *testing.T) {
		for _, token := range []string{"", "no-such-token"} {
			a := p.do(t, "GET", "/refused/traefik", token, nil, "")
			if a.status != 401 || !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Bearer ") || a.jsonBody(t)["error"] == nil {
				t.Errorf("token %q: %d %q %s, want 401 with serve's challenge and body", token, a.status, a.header.Get("WWW-Authenticate"), a.body)
			}
		}
		if b.api.reached("/refused/traefik") {
			t.Error("a refused request reached the API")
		}
	})
}

// directToken takes a token from serve itself, as a trusted peer that
// ended TLS.
func directToken(t *testing.T, b *backend, service, user, scope string) harness.TokenResponse {
	t.Helper()
	tr := postToken(t, http.DefaultClient, b.serve.URL+"/services/"+service+"/oauth2/token", passwordForm(b.bob, user, scope), "https")
	if tr.Status != 200 {
		t.Fatalf("token of %s: %d %s", service, tr.Status, tr.Error)
	}
	return tr
}
