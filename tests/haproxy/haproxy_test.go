package haproxy

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/store/pgtest"
	"github.com/oauth2-password/oauth2-password/tests/fwdauth"
	"github.com/oauth2-password/oauth2-password/tests/harness"
)

// identityHeaders are the headers serve sets for the upstream; a client
// must never be able to set them, in any spelling.
var identityHeaders = fwdauth.IdentityHeaders

// kongGroupHeaders are set by Kong's acl plugin, not by serve: an API
// moved from Kong may authorize on them, so no client may set them.
var kongGroupHeaders = []string{"X-Consumer-Groups", "X-Authenticated-Groups"}

// spoofed is every identity header as a client sends it to pass as
// someone else, in the dash and the underscore spelling.
func spoofed() http.Header {
	h := http.Header{}
	for _, name := range append(slices.Clone(identityHeaders), kongGroupHeaders...) {
		h[name] = []string{"spoofed"}
		h[strings.ReplaceAll(name, "-", "_")] = []string{"spoofed_underscore"}
	}
	return h
}

// validation is a bearer-validation case both proxies serve.
type validation struct {
	name   string
	path   string
	token  string
	status int
	// challengeError is the error of the RFC 6750 §3 challenge on a
	// refusal ("" = a challenge without error, for a missing token).
	challengeError string
	// identity are the identity headers the API must get, each once and
	// in no other spelling; the others must be absent.
	identity map[string]string
}

// TestThroughHAProxy runs the token endpoints and every validation case
// through the real HAProxy with deploy/haproxy's files and the real serve
// -spoe, and the shared cases through nginx with deploy/nginx's file in
// front of the same serve: both must give the client, and the API, the
// same answers.
func TestThroughHAProxy(t *testing.T) {
	s := newStack(t, harness.ServeConfig(services))
	hap := s.haproxy
	ngx := startNginx(t, s)

	// The short-lived token first: it expires while the others run.
	// haproxy.cfg routes no path to short: its token comes from serve
	// itself, as from a trusted peer that ended TLS.
	direct := &front{name: "serve", url: s.serve.URL, hc: http.DefaultClient}
	short := direct.token(t, s.bob, "/services/short/oauth2/token", "user-s", "")
	if short.ExpiresIn != 2 {
		t.Fatalf("token of short: expires_in %d, want 2", short.ExpiresIn)
	}
	shortAt := time.Now()

	bob := hap.token(t, s.bob, "/oauth2/token", "user-42", "orders.read orders.write")
	carol := hap.token(t, s.carol, "/orders/oauth2/token", "user-7", "")
	revoked := hap.token(t, s.bob, "/oauth2/token", "user-r", "")

	t.Run("token endpoints through HAProxy", func(t *testing.T) {
		a := hap.form(t, "/oauth2/introspect", &s.bob, url.Values{"token": {bob.AccessToken}})
		if a.status != 200 || !strings.Contains(string(a.body), `"active":true`) || !strings.Contains(string(a.body), `"sub":"user-42"`) {
			t.Errorf("introspect: %d %s, want an active token of user-42", a.status, a.body)
		}
		if a := hap.form(t, "/oauth2/revoke", &s.bob, url.Values{"token": {revoked.AccessToken}}); a.status != 200 {
			t.Fatalf("revoke: %d %s", a.status, a.body)
		}
		// RFC 6749 §5.2 through the proxy: a wrong secret is invalid_client.
		wrong := s.bob
		wrong.Secret = "wrong-secret"
		if a := hap.form(t, "/oauth2/revoke", &wrong, url.Values{"token": {"x"}}); a.status != 401 || a.errorCode() != "invalid_client" {
			t.Errorf("revoke with a wrong secret: %d %s, want 401 invalid_client", a.status, a.body)
		}
	})

	bobIdentity := map[string]string{"X-Consumer-ID": harness.ConsumerID, "X-Consumer-Custom-ID": "crm-17",
		"X-Consumer-Username": "bob", "X-Credential-Identifier": s.bob.ID, "X-Authenticated-Userid": "user-42",
		"X-Authenticated-Scope": "orders.read orders.write"}
	waitExpired(t, hap, short.AccessToken, shortAt)
	cases := []validation{
		{name: "valid token, scope headers", path: "/orders/1", token: bob.AccessToken, status: 200, identity: bobIdentity},
		{name: "no custom_id, no scope", path: "/orders/2", token: carol.AccessToken, status: 200,
			identity: map[string]string{"X-Consumer-ID": "carol", "X-Consumer-Username": "carol",
				"X-Credential-Identifier": s.carol.ID, "X-Authenticated-Userid": "user-7"}},
		{name: "token in the query", path: "/orders/3?page=2&access_token=" + url.QueryEscape(bob.AccessToken), status: 200, identity: bobIdentity},
		{name: "missing bearer", path: "/refused/missing", status: 401},
		{name: "unknown bearer", path: "/refused/unknown", token: "no-such-token", status: 401, challengeError: "invalid_token"},
		{name: "expired bearer", path: "/refused/expired", token: short.AccessToken, status: 401, challengeError: "invalid_token"},
		{name: "revoked bearer", path: "/refused/revoked", token: revoked.AccessToken, status: 401, challengeError: "invalid_token"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := checkCase(t, hap, s, c)
			n := checkCase(t, ngx, s, c)
			if h != n {
				t.Errorf("HAProxy answered %s; nginx %s", h, n)
			}
		})
	}

	t.Run("hide_credentials", func(t *testing.T) {
		e := hap.do(t, "GET", "/orders/4?page=2&access_token="+url.QueryEscape(bob.AccessToken), "", nil).echo(t, "haproxy")
		if q, _ := url.ParseQuery(e.Query); q.Get("page") != "2" || q.Has("access_token") {
			t.Errorf("the API got query %q: want page=2 without access_token", e.Query)
		}
		e = hap.do(t, "GET", "/orders/5", bob.AccessToken, nil).echo(t, "haproxy")
		if v, ok := e.Header["Authorization"]; ok {
			t.Errorf("the API got Authorization %q", v)
		}
	})
	// The service is chosen by the path's start; the API may resolve dot
	// segments. A path that names one service here and another path there
	// is refused before either sees it.
	t.Run("dot segments", func(t *testing.T) {
		for _, path := range []string{"/catalog/../orders/1", "/catalog/%2e%2e/orders/1", "/catalog/.%2E/orders/1",
			"/catalog/./../orders", "/catalog/%2F..%2Forders", "/catalog/..%5corders",
			// Java servers drop ";…" from a segment before resolving.
			"/catalog/..;/orders/1", "/catalog/..%3B/orders/1"} {
			if a := hap.do(t, "GET", path, "", nil); a.status != 400 {
				t.Errorf("%s: %d %s, want 400", path, a.status, a.body)
			}
		}
		// A raw backslash, which WHATWG URL parsers read as "/" (Go's
		// client would escape it: the path goes as written).
		for _, raw := range []string{`/catalog/..\orders/1`, `/catalog/x/..\..\orders/1`} {
			req, err := http.NewRequest("GET", hap.url+"/", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.URL.Opaque = raw
			resp, err := hap.hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 400 {
				t.Errorf("%s: %d, want 400", raw, resp.StatusCode)
			}
		}
		if a := hap.do(t, "GET", "/catalog/a.b/..c/...", "", nil); a.status != 200 {
			t.Errorf("/catalog/a.b/..c/...: %d %s, want 200 (dots inside names are no segments)", a.status, a.body)
		}
	})
	t.Run("anonymous consumer", func(t *testing.T) {
		for _, token := range []string{"", "no-such-token"} {
			e := hap.do(t, "GET", "/catalog/items", token, spoofed()).echo(t, "haproxy")
			checkIdentity(t, "haproxy", e, map[string]string{"X-Consumer-ID": "guest", "X-Consumer-Username": "guest", "X-Anonymous-Consumer": "true"})
		}
		// A valid token on catalog is its consumer, not the anonymous one
		// (catalog keeps the credential: no hide_credentials).
		e := hap.do(t, "GET", "/catalog/items", bob.AccessToken, spoofed()).echo(t, "haproxy")
		checkIdentity(t, "haproxy", e, bobIdentity)
		if v := e.Header["Authorization"]; len(v) != 1 || v[0] != "Bearer "+bob.AccessToken {
			t.Errorf("catalog: the API got Authorization %q, want the client's", v)
		}
	})
}

// checkCase sends c through f with every identity header spoofed in both
// spellings, checks the answer, and returns it in short for comparing
// proxies.
func checkCase(t *testing.T, f *front, s *stack, c validation) string {
	t.Helper()
	a := f.do(t, "GET", c.path, c.token, spoofed())
	if a.status != c.status {
		t.Fatalf("%s: status %d, want %d (%s)", f.name, a.status, c.status, a.body)
	}
	path, _, _ := strings.Cut(c.path, "?")
	if c.status != 200 {
		if s.api.reached(path) {
			t.Errorf("%s: the refused request reached the API", f.name)
		}
		challenge := a.header.Get("WWW-Authenticate")
		want := `Bearer realm="` + realm + `"`
		if c.challengeError != "" {
			want += `, error="` + c.challengeError + `"`
		}
		if !strings.HasPrefix(challenge, want) || (c.challengeError == "" && strings.Contains(challenge, "error=")) {
			t.Errorf("%s: WWW-Authenticate %q, want serve's %q…", f.name, challenge, want)
		}
		// nginx's auth_request passes the status and headers but not the
		// body; HAProxy passes serve's body too.
		if f.name == "haproxy" {
			if got, want := a.errorCode(), c.challengeError; got != want && !(want == "" && got == "invalid_request") {
				t.Errorf("haproxy: body %s, want error %q", a.body, want)
			}
		}
		return fmt.Sprintf("%d %s", a.status, challenge)
	}
	e := a.echo(t, f.name)
	checkIdentity(t, f.name, e, c.identity)
	if _, ok := e.Header["Authorization"]; ok {
		t.Errorf("%s: the API got the Authorization header (hide_credentials)", f.name)
	}
	if e.Path != path || e.Method != "GET" {
		t.Errorf("%s: the API got %s %s", f.name, e.Method, e.Path)
	}
	var got []string
	for _, name := range identityHeaders {
		got = append(got, name+"="+c.identity[name])
	}
	return "200 " + strings.Join(got, " ")
}

// checkIdentity: the API got exactly the identity headers of want, each
// once, and none of the others in any spelling.
func checkIdentity(t *testing.T, who string, e echoed, want map[string]string) {
	t.Helper()
	got := e.identity(identityHeaders)
	for _, name := range identityHeaders {
		v, set := want[name]
		switch {
		case set && !slices.Equal(got[name], []string{v}):
			t.Errorf("%s: the API got %s %q, want %q", who, name, got[name], v)
		case !set && len(got[name]) > 0:
			t.Errorf("%s: the API got %s %q, want none", who, name, got[name])
		}
	}
	for name, v := range e.identity(kongGroupHeaders) {
		if len(v) > 0 {
			t.Errorf("%s: the API got the client's %s %q", who, name, v)
		}
	}
}

// waitExpired waits until the token of short, issued at, has expired by
// its lifetime (whole seconds of the issuing second) and HAProxy refuses
// it.
func waitExpired(t *testing.T, f *front, token string, at time.Time) {
	t.Helper()
	time.Sleep(time.Until(time.Unix(at.Unix()+3, 0)))
	deadline := time.Now().Add(10 * time.Second)
	for f.do(t, "GET", "/refused/expired-wait", token, nil).status != 401 {
		if time.Now().After(deadline) {
			t.Fatal("the short token is still accepted 10 s after its expiry")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestConcurrentClients: 64 clients at once, each taking its own token
// and then getting its own identity at the API: HAProxy multiplexes their
// checks over few agent connections, and no answer may go to another
// request.
func TestConcurrentClients(t *testing.T) {
	s := newStack(t, harness.ServeConfig(services))
	const clients, each = 64, 5
	var wg sync.WaitGroup
	errs := make(chan string, clients*each)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each client takes its own token through HAProxy, at the same
			// time as the others.
			res, err := s.haproxy.hc.PostForm(s.haproxy.url+"/oauth2/token", url.Values{"grant_type": {"password"},
				"provision_key": {provisionKey}, "authenticated_userid": {fmt.Sprintf("user-%d", i)},
				"client_id": {s.bob.ID}, "client_secret": {s.bob.Secret}})
			if err != nil {
				errs <- err.Error()
				return
			}
			var tok harness.TokenResponse
			if err := jsonInto(readAll(res), &tok); err != nil || res.StatusCode != 200 || tok.AccessToken == "" {
				errs <- fmt.Sprintf("client %d: token: %d %v", i, res.StatusCode, err)
				return
			}
			for j := range each {
				req, _ := http.NewRequest("GET", fmt.Sprintf("%s/orders/%d/%d", s.haproxy.url, i, j), nil)
				req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
				req.Header.Set("X-Authenticated-Userid", "spoofed")
				resp, err := s.haproxy.hc.Do(req)
				if err != nil {
					errs <- err.Error()
					return
				}
				var a answer
				a.status, a.header = resp.StatusCode, resp.Header
				a.body = readAll(resp)
				var e echoed
				if a.status != 200 || jsonInto(a.body, &e) != nil {
					errs <- fmt.Sprintf("client %d: %d %s", i, a.status, a.body)
					return
				}
				if got := e.identity([]string{"X-Authenticated-Userid"})["X-Authenticated-Userid"]; !slices.Equal(got, []string{fmt.Sprintf("user-%d", i)}) {
					errs <- fmt.Sprintf("client %d: the API got X-Authenticated-Userid %q", i, got)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestAgentDownAndRestart: with serve (the agent) stopped, every protected
// request is refused 503 temporarily_unavailable and none reaches the API
// (fail closed); a new serve on the same address is found again by
// HAProxy by itself.
func TestAgentDownAndRestart(t *testing.T) {
	s := newStack(t, harness.ServeConfig(services))
	tok := s.haproxy.token(t, s.bob, "/oauth2/token", "user-1", "").AccessToken
	if a := s.haproxy.do(t, "GET", "/orders/before", tok, nil); a.status != 200 {
		t.Fatalf("before the outage: %d %s", a.status, a.body)
	}
	if err := s.serve.Stop(t); err != nil {
		t.Fatalf("serve did not stop cleanly: %v", err)
	}
	// Right after the stop (connections gone, health check not yet
	// failed) and once HAProxy has marked the agent down.
	var slowest time.Duration
	for i := range 30 {
		path := fmt.Sprintf("/orders/down/%d", i)
		start := time.Now()
		a := s.haproxy.do(t, "GET", path, tok, nil)
		if a.status != 503 || a.errorCode() != "temporarily_unavailable" {
			t.Fatalf("agent down, request %d: %d %s, want 503 temporarily_unavailable", i, a.status, a.body)
		}
		took := time.Since(start)
		if took > 5*time.Second {
			t.Errorf("agent down, request %d took %v", i, took)
		}
		slowest = max(slowest, took)
		if s.api.reached(path) {
			t.Fatalf("agent down: request %d reached the API", i)
		}
		time.Sleep(100 * time.Millisecond)
	}

	t.Logf("agent down: 30 requests refused over 3 s, the slowest in %v", slowest)

	restarted := time.Now()
	s.startServe(t) // same database, same -spoe address
	deadline := time.Now().Add(15 * time.Second)
	for {
		a := s.haproxy.do(t, "GET", "/orders/after", tok, nil)
		if a.status == 200 {
			break
		}
		if a.status != 503 || time.Now().After(deadline) {
			t.Fatalf("agent restarted: %d %s, want 200 within 15 s", a.status, a.body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("agent restarted: allowed again %v after serve was started", time.Since(restarted).Round(time.Millisecond))
	if a := s.haproxy.do(t, "GET", "/orders/after-unknown", "no-such-token", nil); a.status != 401 {
		t.Errorf("agent restarted: unknown token answered %d, want 401", a.status)
	}
}

// TestDeployFiles runs deploy/haproxy's three files together as shipped,
// but for the provision keys (serve refuses the placeholders): a token
// through HAProxy, the orders route (hide_credentials) and the catalog
// route (anonymous guest).
func TestDeployFiles(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(harness.Root(), "deploy", "haproxy", "serve.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	conf := strings.ReplaceAll(string(raw), "change-me-orders-provision-key", provisionKey)
	if !strings.Contains(conf, provisionKey) {
		t.Fatal("serve.yaml: no provision_key of orders to replace")
	}
	s := newStack(t, strings.ReplaceAll(conf, "change-me-catalog-provision-key", provisionKey+"-catalog"))
	web := harness.CreateClient(t, s.db, "web-app", "web")
	tok := s.haproxy.token(t, web, "/oauth2/token", "user-42", "orders.read").AccessToken
	e := s.haproxy.do(t, "GET", "/orders/1", tok, spoofed()).echo(t, "haproxy")
	checkIdentity(t, "orders", e, map[string]string{"X-Consumer-ID": "web-app", "X-Consumer-Username": "web-app",
		"X-Credential-Identifier": web.ID, "X-Authenticated-Userid": "user-42", "X-Authenticated-Scope": "orders.read"})
	if v, ok := e.Header["Authorization"]; ok {
		t.Errorf("orders: the API got Authorization %q (hide_credentials)", v)
	}
	if a := s.haproxy.do(t, "GET", "/orders/2", "", nil); a.status != 401 || s.api.reached("/orders/2") {
		t.Errorf("orders without a token: %d %s, want 401", a.status, a.body)
	}
	e = s.haproxy.do(t, "GET", "/catalog", "", spoofed()).echo(t, "haproxy")
	checkIdentity(t, "catalog", e, map[string]string{"X-Consumer-ID": "guest", "X-Consumer-Username": "guest", "X-Anonymous-Consumer": "true"})
}

// TestStoreOutage: serve's PostgreSQL stops. A token serve never saw is in
// no cache, so serve must ask the store: through HAProxy the client gets
// serve's 503 temporarily_unavailable with Retry-After and body (the
// status 503 rule), as nginx.conf answers it, and the token endpoint
// answers 503 too. No request reaches the API.
func TestStoreOutage(t *testing.T) {
	pg, err := pgtest.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Close)
	s := newStackOn(t, pg.URL(), harness.ServeConfig(services), "-store-timeout", "1s")
	ngx := startNginx(t, s)
	s.haproxy.token(t, s.bob, "/oauth2/token", "user-before", "") // the store works
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []*front{s.haproxy, ngx} {
		path := "/outage/" + f.name
		a := f.do(t, "GET", path, "not-cached-anywhere", nil)
		if a.status != 503 || a.header.Get("Retry-After") != "1" || a.errorCode() != "temporarily_unavailable" {
			t.Errorf("%s, store down: %d Retry-After %q %s, want 503 temporarily_unavailable with Retry-After 1",
				f.name, a.status, a.header.Get("Retry-After"), a.body)
		}
		if s.api.reached(path) {
			t.Errorf("%s, store down: the request reached the API", f.name)
		}
	}
	v := url.Values{"grant_type": {"password"}, "provision_key": {provisionKey}, "authenticated_userid": {"user-outage"},
		"client_id": {s.bob.ID}, "client_secret": {s.bob.Secret}}
	if a := s.haproxy.form(t, "/oauth2/token", nil, v); a.status != 503 || a.errorCode() != "temporarily_unavailable" {
		t.Errorf("store down: token request answered %d %s, want 503 temporarily_unavailable", a.status, a.body)
	}
}
