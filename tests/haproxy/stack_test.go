package haproxy

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/tests/harness"
	"github.com/oauth2-password/oauth2-password/tests/proxies"
)

const (
	provisionKey = "pk-haproxy-0123456789"
	realm        = "orders-api" // the service's realm: a challenge is told from a proxy's own
)

// services is serve's config behind the proxies, with the SERVICE names
// deploy/haproxy/haproxy.cfg routes: `orders` (hide_credentials, scopes)
// for every path but /catalog, `catalog` (anonymous consumer guest; it
// takes orders' tokens too), and
// `short`, whose tokens (global_credentials, as orders) expire after two
// seconds, for the expired-token case. The proxies end TLS and say so in
// X-Forwarded-Proto from a trusted peer (loopback).
const services = `  orders:
    provision_key: ` + provisionKey + `
    scopes: [orders.read, orders.write]
    accept_http_if_already_terminated: true
    global_credentials: true
    hide_credentials: true
    realm: ` + realm + `
  short:
    provision_key: ` + provisionKey + `
    accept_http_if_already_terminated: true
    global_credentials: true
    token_expiration: 2
  catalog:
    provision_key: ` + provisionKey + `
    accept_http_if_already_terminated: true
    global_credentials: true
    anonymous: guest`

// stack is serve (HTTP and SPOE agent) with two clients, the API it
// protects, and HAProxy in front.
type stack struct {
	db       string
	config   string // serve's
	api      *upstream
	bob      harness.Client // consumer bob: id, username, custom_id in the config
	carol    harness.Client // consumer carol: in no config entry, so no custom_id
	serve    *harness.Serve
	spoeAddr string
	flags    []string // serve's extra flags
	haproxy  *front
}

func newStack(t *testing.T, config string) *stack {
	t.Helper()
	return newStackOn(t, harness.SQLiteURL(t), config)
}

// newStackOn is newStack on the database at dbURL, serve with flags.
func newStackOn(t *testing.T, dbURL, config string, flags ...string) *stack {
	t.Helper()
	s := &stack{db: dbURL, config: config, flags: flags, api: startUpstream(t), spoeAddr: harness.FreeAddr(t)}
	s.bob = harness.CreateClient(t, s.db, "bob", "web")
	s.carol = harness.CreateClient(t, s.db, "carol", "mobile")
	s.startServe(t)
	s.haproxy = startHAProxy(t, s)
	return s
}

// startServe starts serve with its SPOE agent on s.spoeAddr.
func (s *stack) startServe(t *testing.T) {
	t.Helper()
	s.serve = harness.StartServe(t, s.db, s.config, append([]string{"-spoe", s.spoeAddr}, s.flags...)...)
}

func (s *stack) serveAddr() string { return strings.TrimPrefix(s.serve.URL, "http://") }

// front is a proxy the tests send requests through.
type front struct {
	name string
	url  string // https://127.0.0.1:port
	hc   *http.Client
}

// startHAProxy runs deploy/haproxy/haproxy.cfg as it is.
func startHAProxy(t *testing.T, s *stack) *front {
	t.Helper()
	bin, err := Bin()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pem, hc, err := Certificate(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := Env{ProxyAddr: harness.FreeAddr(t), TLSCert: pem, ServeAddr: s.serveAddr(), SPOEAddr: s.spoeAddr, UpstreamAddr: s.api.addr()}
	f := &front{name: "haproxy", url: "https://" + e.ProxyAddr, hc: hc}
	run(t, Command(bin, ConfigPath(harness.Root()), e), f)
	return f
}

// startNginx runs deploy/nginx/nginx.conf as tests/proxies does, in
// front of the same serve and API.
func startNginx(t *testing.T, s *stack) *front {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/nginx"); serr != nil {
			t.Fatal("nginx not found: apt-get install nginx (.ci/run installs it)")
		}
		bin = "/usr/sbin/nginx"
	}
	dir := t.TempDir()
	_, hc, err := Certificate(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := proxies.Env{ProxyAddr: harness.FreeAddr(t), ServeAddr: s.serveAddr(), UpstreamAddr: s.api.addr(),
		TLSCert: filepath.Join(dir, "cert.pem"), TLSKey: filepath.Join(dir, "key.pem")}
	conf, err := proxies.Envsubst(filepath.Join(harness.Root(), "deploy", "nginx", "nginx.conf"), e)
	if err != nil {
		t.Fatal(err)
	}
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	global := "daemon off;"
	if os.Geteuid() == 0 {
		global += " user root;" // workers must enter the private temp dir
	}
	f := &front{name: "nginx", url: "https://" + e.ProxyAddr, hc: hc}
	run(t, exec.Command(bin, "-p", dir, "-c", confPath, "-e", filepath.Join(dir, "error.log"), "-g", global), f)
	return f
}

// run starts cmd, waits until the proxy answers a request without a token
// with 401 (the agent or auth service answered through it), and stops it
// (SIGTERM) when the test ends; its output is shown if the test failed.
func run(t *testing.T, cmd *exec.Cmd, f *front) {
	t.Helper()
	proc := harness.RunProcess(t, f.name, cmd, nil)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := f.hc.Get(f.url + "/ready-probe")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 401 {
				return
			}
		}
		select {
		case <-proc.Exited():
			t.Fatalf("%s exited at start: %v\n%s", f.name, proc.Err(), proc.Output())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer 401 within 20s (%v)\n%s", f.name, err, proc.Output())
		}
	}
}

// answer is a response read whole.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request through f; token "" sends no Authorization.
func (f *front) do(t *testing.T, method, path, token string, header http.Header) answer {
	t.Helper()
	req, err := http.NewRequest(method, f.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v // as spelled: X_Consumer_ID stays so on the wire
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := f.hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s %s: %v", f.name, method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, b}
}

// errorCode is the "error" of a JSON body, "" if none.
func (a answer) errorCode() string {
	var m map[string]any
	_ = json.Unmarshal(a.body, &m)
	s, _ := m["error"].(string)
	return s
}

// form posts a form to f's path with HTTP Basic client authentication
// (RFC 6749 §2.3.1) when c is not nil.
func (f *front) form(t *testing.T, path string, c *harness.Client, v url.Values) answer {
	t.Helper()
	req, err := http.NewRequest("POST", f.url+path, strings.NewReader(v.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-Proto", "https") // what a proxy sets; HAProxy and nginx overwrite it
	if c != nil {
		req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	}
	resp, err := f.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, b}
}

// token is a password grant through f that must succeed.
func (f *front) token(t *testing.T, c harness.Client, path, user, scope string) harness.TokenResponse {
	t.Helper()
	v := url.Values{"grant_type": {"password"}, "provision_key": {provisionKey},
		"authenticated_userid": {user}, "client_id": {c.ID}, "client_secret": {c.Secret}}
	if scope != "" {
		v.Set("scope", scope)
	}
	a := f.form(t, path, nil, v)
	var tr harness.TokenResponse
	if err := json.Unmarshal(a.body, &tr); err != nil || a.status != 200 || tr.AccessToken == "" {
		t.Fatalf("%s: password grant at %s: %d %s", f.name, path, a.status, a.body)
	}
	return tr
}

// echoed is what the protected API received.
type echoed struct {
	Method string              `json:"method"`
	Path   string              `json:"path"`
	Query  string              `json:"query"`
	Header map[string][]string `json:"header"` // names as received
}

// identity is every header the API got whose name, in lower case with
// "_" read as "-", is one of names: how a server that maps underscores
// to dashes would see them.
func (e echoed) identity(names []string) map[string][]string {
	out := map[string][]string{}
	for k, v := range e.Header {
		n := strings.ReplaceAll(strings.ToLower(k), "_", "-")
		for _, want := range names {
			if n == strings.ToLower(want) {
				out[want] = append(out[want], v...)
			}
		}
	}
	return out
}

// upstream is the API behind the proxies: it answers every request with
// what it received, as JSON, and counts the requests for each path.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen map[string]int
}

func startUpstream(t *testing.T) *upstream {
	u := &upstream{seen: map[string]int{}}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e := echoed{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: map[string][]string{}}
		for k, v := range r.Header {
			e.Header[k] = v
		}
		u.mu.Lock()
		u.seen[r.URL.Path]++
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(e)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) reached(path string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.seen[path] > 0
}

func (u *upstream) addr() string { return strings.TrimPrefix(u.URL, "http://") }

// echo decodes the API's answer; anything else fails the test.
func (a answer) echo(t *testing.T, who string) echoed {
	t.Helper()
	var e echoed
	if a.status != 200 || json.Unmarshal(a.body, &e) != nil || e.Header == nil {
		t.Fatalf("%s: want the API's answer, got %d %s", who, a.status, bytes.TrimSpace(a.body))
	}
	return e
}

func readAll(resp *http.Response) []byte {
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}

func jsonInto(b []byte, v any) error { return json.Unmarshal(b, v) }
