package proxies

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/tests/harness"
)

// proxyNames are the proxies started by the tests (Traefik: traefik_test.go).
var proxyNames = []string{"nginx", "caddy"}

// TestThroughProxies runs the password grant, protected calls and every
// refusal through nginx and Caddy with this folder's configs, in front of
// the real `serve` and an API that echoes what it receives.
func TestThroughProxies(t *testing.T) {
	b := startBackend(t, harness.SQLiteURL(t))
	for _, name := range proxyNames {
		t.Run(name, func(t *testing.T) {
			p := proxyFor(t, name, b.serveAddr(), b.api.addr())
			t.Run("identity reaches the API, spoofed headers do not", func(t *testing.T) { testIdentity(t, p, b) })
			t.Run("absent identity headers stay absent", func(t *testing.T) { testAbsentHeaders(t, p, b) })
			t.Run("access_token in the query", func(t *testing.T) { testQueryToken(t, p, b) })
			t.Run("request body reaches the API", func(t *testing.T) { testBody(t, p, b) })
			t.Run("refusals reach the client with WWW-Authenticate", func(t *testing.T) { testRefusals(t, p, b) })
			t.Run("token endpoint HTTPS rule", func(t *testing.T) { testForwardedProto(t, p, b) })
			t.Run("revoke and introspect", func(t *testing.T) { testRevokeIntrospect(t, p, b) })
			t.Run("golang.org/x/oauth2", func(t *testing.T) { testOAuth2Library(t, p, b) })
		})
	}
}

// spoofed are identity headers a client sends to pass as someone else.
func spoofed() http.Header {
	h := http.Header{}
	// X-Consumer-Groups and X-Authenticated-Groups are Kong's acl
	// plugin's: serve never sets them, and an API moved from Kong may
	// authorize on them.
	for _, name := range append(slices.Clone(identityHeaders), "X-Consumer-Groups", "X-Authenticated-Groups") {
		h.Set(name, "spoofed")
	}
	return h
}

func testIdentity(t *testing.T, p *proxy, b *backend) {
	tr := p.mustToken(t, b.bob, "user-42", "orders.read orders.write")
	e := p.do(t, "GET", "/orders/1", tr.AccessToken, spoofed(), "").echo(t)
	want := map[string]string{
		"X-Consumer-ID": harness.ConsumerID, "X-Consumer-Custom-ID": "crm-17", "X-Consumer-Username": "bob",
		"X-Credential-Identifier": b.bob.ID, "X-Authenticated-Userid": "user-42",
		"X-Authenticated-Scope": "orders.read orders.write",
	}
	for _, name := range identityHeaders {
		got, ok := e.has(name)
		switch w, set := want[name]; {
		case set && got != w:
			t.Errorf("%s: the API got %s %q, want %q", p.name, name, got, w)
		case !set && ok:
			t.Errorf("%s: the API got %s %q, want none", p.name, name, got)
		}
	}
	for _, name := range []string{"X-Consumer-Groups", "X-Authenticated-Groups"} {
		if got, ok := e.has(name); ok {
			t.Errorf("%s: the API got the client's %s %q", p.name, name, got)
		}
	}
	// hide_credentials, done by the proxy: the token never reaches the API.
	if _, ok := e.has("Authorization"); ok {
		t.Errorf("%s: the API got the Authorization header", p.name)
	}
	if e.Path != "/orders/1" || e.Method != "GET" {
		t.Errorf("%s: the API got %s %s", p.name, e.Method, e.Path)
	}
}

// testAbsentHeaders: carol has no custom_id and the token no scope, so
// serve answers without X-Consumer-Custom-ID and X-Authenticated-Scope;
// the client's copies of them must not get through in their place.
func testAbsentHeaders(t *testing.T, p *proxy, b *backend) {
	tr := p.mustToken(t, b.carol, "user-7", "")
	e := p.do(t, "GET", "/orders/2", tr.AccessToken, spoofed(), "").echo(t)
	for _, name := range []string{"X-Consumer-Custom-ID", "X-Authenticated-Scope", "X-Anonymous-Consumer"} {
		if v, ok := e.has(name); ok {
			t.Errorf("%s: the API got %s %q, want none", p.name, name, v)
		}
	}
	if v, _ := e.has("X-Consumer-Username"); v != "carol" {
		t.Errorf("%s: the API got X-Consumer-Username %q, want carol", p.name, v)
	}
	if v, _ := e.has("X-Credential-Identifier"); v != b.carol.ID {
		t.Errorf("%s: the API got X-Credential-Identifier %q, want carol's client", p.name, v)
	}
}

// testQueryToken: the token in ?access_token= (RFC 6750 §2.3) reaches
// serve through X-Original-URI (nginx) or X-Forwarded-Uri (Caddy). Neither
// proxy can drop it from the URI the API gets (README).
func testQueryToken(t *testing.T, p *proxy, b *backend) {
	tr := p.mustToken(t, b.bob, "user-q", "")
	e := p.do(t, "GET", "/orders/3?page=2&access_token="+url.QueryEscape(tr.AccessToken), "", nil, "").echo(t)
	if v, _ := e.has("X-Authenticated-Userid"); v != "user-q" {
		t.Errorf("%s: the API got X-Authenticated-Userid %q, want user-q", p.name, v)
	}
	if q, _ := url.ParseQuery(e.Query); q.Get("page") != "2" {
		t.Errorf("%s: the API got query %q", p.name, e.Query)
	}
	a := p.do(t, "GET", "/orders/3b?access_token=not-a-token", "", nil, "")
	if a.status != 401 || b.api.reached("/orders/3b") {
		t.Errorf("%s: unknown query token: %d (reached the API: %v)", p.name, a.status, b.api.reached("/orders/3b"))
	}
	// The original request is the proxy's to describe: a client's own
	// X-Forwarded-Uri holding a token is not the request's token (and
	// would carry it to the API past hide_credentials).
	a = p.do(t, "GET", "/orders/3c", "", http.Header{"X-Forwarded-Uri": {"/orders/3c?access_token=" + url.QueryEscape(tr.AccessToken)},
		"X-Forwarded-Method": {"GET"}, "X-Original-Uri": {"/orders/3c?access_token=" + url.QueryEscape(tr.AccessToken)}}, "")
	if a.status != 401 || b.api.reached("/orders/3c") {
		t.Errorf("%s: a token in the client's own X-Forwarded-Uri: %d (reached the API: %v), want 401", p.name, a.status, b.api.reached("/orders/3c"))
	}
}

// testBody: the auth call does not eat the body of the request it checks.
func testBody(t *testing.T, p *proxy, b *backend) {
	tr := p.mustToken(t, b.bob, "user-42", "")
	payload := strings.Repeat("order line\n", 2000)
	e := p.do(t, "POST", "/orders", tr.AccessToken, http.Header{"Content-Type": {"text/plain"}}, payload).echo(t)
	if e.Method != "POST" || e.Body != payload {
		t.Errorf("%s: the API got %s with %d bytes, want POST with %d", p.name, e.Method, len(e.Body), len(payload))
	}
}

// testRefusals: missing, unknown, expired and revoked tokens are answered
// 401 with serve's RFC 6750 §3 challenge, and never reach the API.
func testRefusals(t *testing.T, p *proxy, b *backend) {
	refused := func(path, token string, wantError string) {
		t.Helper()
		a := p.do(t, "GET", path, token, nil, "")
		if a.status != 401 {
			t.Errorf("%s %s: status %d, want 401 (%s)", p.name, path, a.status, a.body)
			return
		}
		if b.api.reached(path) {
			t.Errorf("%s %s: the request reached the API", p.name, path)
		}
		challenge := a.header.Get("WWW-Authenticate")
		if !strings.HasPrefix(challenge, `Bearer realm="`+realm+`"`) {
			t.Errorf("%s %s: WWW-Authenticate %q, want serve's Bearer challenge", p.name, path, challenge)
		}
		hasError := strings.Contains(challenge, `error="`+wantError+`"`)
		if wantError == "" {
			hasError = !strings.Contains(challenge, "error=")
		}
		if !hasError {
			t.Errorf("%s %s: WWW-Authenticate %q, want error %q", p.name, path, challenge, wantError)
		}
		if p.passesDenialBody {
			if got, _ := a.jsonBody(t)["error"].(string); wantError != "" && got != wantError {
				t.Errorf("%s %s: body %s, want error %q", p.name, path, a.body, wantError)
			}
		}
	}
	// RFC 6750 §3.1: no error code when the request has no credentials.
	refused("/refused/missing", "", "")
	refused("/refused/unknown", "no-such-token", "invalid_token")

	st := directToken(t, b, "short", "user-s", "")
	if st.ExpiresIn != 2 {
		t.Fatalf("token of short: expires_in %d, want 2", st.ExpiresIn)
	}
	short := st.AccessToken
	waitStatus(t, p, "/refused/expired-wait", short, 401, 15*time.Second)
	refused("/refused/expired", short, "invalid_token")

	tr := p.mustToken(t, b.bob, "user-r", "")
	if a := p.post(t, "/oauth2/revoke", b.bob, url.Values{"token": {tr.AccessToken}, "token_type_hint": {"access_token"}}); a.status != 200 {
		t.Fatalf("%s: revoke: %d %s", p.name, a.status, a.body)
	}
	waitStatus(t, p, "/refused/revoked-wait", tr.AccessToken, 401, 10*time.Second)
	refused("/refused/revoked", tr.AccessToken, "invalid_token")
}

// waitStatus waits until a call with token answers want.
func waitStatus(t *testing.T, p *proxy, path, token string, want int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		a := p.do(t, "GET", path, token, nil, "")
		if a.status == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s: still %d after %v, want %d", p.name, path, a.status, within, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// testForwardedProto: the proxy, not the client, says how the client came.
// A client claiming X-Forwarded-Proto: http is overruled (the proxy sets
// https: it ended TLS), and the grant succeeds; serve itself refuses plain
// HTTP from a peer outside trusted_ips (tested with serve).
func testForwardedProto(t *testing.T, p *proxy, b *backend) {
	tr := postToken(t, p.hc, p.url+"/oauth2/token", passwordForm(b.bob, "user-p", ""), "http")
	if tr.Status != 200 {
		t.Errorf("%s: token request with the client's own X-Forwarded-Proto: %d %s %s", p.name, tr.Status, tr.Error, tr.ErrorDescription)
	}
}
