// Package e2e drives the real oauth2-password binary over its real socket,
// through the Kong-side test host, the way a Kong node and its users would:
// tokens over HTTPS, bearer calls, the admin CLI as separate processes, a
// killed and respawned plugin, configuration changes under load.
package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/store/pgtest"
	"github.com/oauth2-password/oauth2-password/tests/harness"
	"github.com/oauth2-password/oauth2-password/tests/konghost"
)

var pg *pgtest.Server

func TestMain(m *testing.M) { pgtest.Main(m, &pg) }

// storeCase is one token store the plugin can run on.
type storeCase struct {
	name string
	url  func(t *testing.T) string
}

// stores are the two stores a suite runs against "with PostgreSQL and with
// the embedded store".
var stores = []storeCase{
	{"postgres", func(t *testing.T) string { return pg.NewDatabase(t) }},
	{"embedded", func(t *testing.T) string { return harness.SQLiteURL(t) }},
}

// syncInterval is the -cache-sync-interval the suites that revoke pass: the
// documented bound on how long a revoked token may still be honoured.
const syncInterval = 250 * time.Millisecond

// env is one running plugin with helpers that fail the test on misuse.
type env struct {
	t *testing.T
	*harness.Stack
	hc    *http.Client
	ready bool // the store has been seen open
}

func start(t *testing.T, db string, flags ...string) *env {
	t.Helper()
	st := harness.Start(t, db, flags...)
	return &env{t: t, Stack: st, hc: st.Front.Client()}
}

func (e *env) service(s konghost.ServiceSpec) konghost.Service {
	e.t.Helper()
	svc, err := e.Host.AddService(s)
	if err != nil {
		e.t.Fatal(err)
	}
	if !e.ready {
		// Tests start talking as soon as their services exist: wait for
		// the store rather than take its opening 503s for failures.
		e.WaitStore(e.t, s.Name)
		e.ready = true
	}
	return svc
}

func (e *env) consumer(c konghost.Consumer) konghost.Consumer {
	e.t.Helper()
	c, err := e.Host.AddConsumer(c)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// reply is a response with its body read.
type reply struct {
	*http.Response
	body []byte
}

func (r reply) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("status %d: body %q is not a JSON object", r.StatusCode, r.body)
	}
	return m
}

// echo decodes the upstream echo of a proxied request.
func (r reply) echo(t *testing.T) *konghost.Echo {
	t.Helper()
	var ec konghost.Echo
	if r.StatusCode != 200 || json.Unmarshal(r.body, &ec) != nil || ec.Headers == nil {
		t.Fatalf("want the upstream echo, got %d %q", r.StatusCode, r.body)
	}
	return &ec
}

// result is what the host recorded for the request behind r.
func (e *env) result(r reply) *konghost.Result {
	e.t.Helper()
	ex, ok := e.Front.ExchangeOf(r.Response)
	if !ok {
		e.t.Fatalf("no exchange recorded for the response (X-Kong-Request-Id %q)", r.Header.Get("X-Kong-Request-Id"))
	}
	return ex.Result
}

func do(t testing.TB, hc *http.Client, req *http.Request) reply {
	t.Helper()
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{resp, b}
}

// call sends method to rawURL with the token as a bearer header (none when
// empty) and extra headers as name, value pairs.
func (e *env) call(method, rawURL, token string, hdr ...string) reply {
	e.t.Helper()
	req, err := http.NewRequest(method, rawURL, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	return do(e.t, e.hc, req)
}

func (e *env) get(rawURL, token string, hdr ...string) reply {
	e.t.Helper()
	return e.call(http.MethodGet, rawURL, token, hdr...)
}

// postToken posts a form to the token endpoint of host over HTTPS.
func (e *env) postToken(host string, form url.Values) (reply, harness.TokenResponse) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, "https://"+host+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r := do(e.t, e.hc, req)
	var tr harness.TokenResponse
	if err := json.Unmarshal(r.body, &tr); err != nil {
		e.t.Fatalf("token endpoint answered %d %q", r.StatusCode, r.body)
	}
	tr.Status = r.StatusCode
	return r, tr
}

// grant is a password grant that must succeed.
func (e *env) grant(host string, c harness.Client, provisionKey, user, scope string) harness.TokenResponse {
	e.t.Helper()
	form := passwordForm(c, provisionKey, user, scope)
	_, tr := e.postToken(host, form)
	if tr.Status != 200 || tr.AccessToken == "" {
		e.t.Fatalf("password grant on %s: %d %s: %s", host, tr.Status, tr.Error, tr.ErrorDescription)
	}
	return tr
}

// refresh is a refresh grant that must succeed.
func (e *env) refresh(host string, c harness.Client, refreshToken string) harness.TokenResponse {
	e.t.Helper()
	_, tr := e.postToken(host, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken},
		"client_id": {c.ID}, "client_secret": {c.Secret}})
	if tr.Status != 200 || tr.AccessToken == "" {
		e.t.Fatalf("refresh on %s: %d %s: %s", host, tr.Status, tr.Error, tr.ErrorDescription)
	}
	return tr
}

func passwordForm(c harness.Client, provisionKey, user, scope string) url.Values {
	form := url.Values{"grant_type": {"password"}, "provision_key": {provisionKey},
		"authenticated_userid": {user}, "client_id": {c.ID}}
	if c.Secret != "" {
		form.Set("client_secret", c.Secret)
	}
	if scope != "" {
		form.Set("scope", scope)
	}
	return form
}

// Kong's answers to a failed bearer validation (kong/BEHAVIOUR.md §6) in
// RFC 6750 §3 form (our deviation, kong/BEHAVIOUR.md §10).
const (
	descInvalid = "The access token is invalid or has expired"
	descGlobal  = "The access token is global, but the current plugin is configured without 'global_credentials'"
)

func invalidChallenge(realm string) string {
	c := `Bearer `
	if realm != "" {
		c += `realm="` + realm + `", `
	}
	return c + `error="invalid_token", error_description="` + descInvalid + `"`
}

// wantRefused checks a 401 invalid_token answer with its challenge.
func wantRefused(t *testing.T, r reply, realm, desc string) {
	t.Helper()
	if r.StatusCode != 401 {
		t.Fatalf("status %d, want 401; body %q", r.StatusCode, r.body)
	}
	m := r.json(t)
	if m["error"] != "invalid_token" || m["error_description"] != desc {
		t.Errorf("body %s, want invalid_token %q", r.body, desc)
	}
	if got, want := r.Header.Get("WWW-Authenticate"), invalidChallenge(realm); got != want {
		t.Errorf("WWW-Authenticate = %q, want %q", got, want)
	}
}

// waitRefused polls until the token is refused on rawURL, failing after
// limit. It is for revocations made by another process, which the plugin
// honours within its cache-sync interval.
func (e *env) waitRefused(rawURL, token string, limit time.Duration) reply {
	e.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		r := e.get(rawURL, token)
		if r.StatusCode == 401 || time.Now().After(deadline) {
			return r
		}
		if r.StatusCode != 200 {
			e.t.Fatalf("while waiting for a refusal: %d %q", r.StatusCode, r.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
