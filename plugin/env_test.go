package plugin

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/store"
)

const (
	testProvisionKey = "provision-key-0123456789"
	testService      = "svc-1"
	testSecret       = "secret-0123456789abcdef"
)

var testConsumer = Consumer{ID: "4b1a6ad4-0000-4000-8000-000000000001", Username: "alice", CustomID: "c-42"}

// env is one engine over a real embedded store, a fake clock and a log
// that tests can search.
type env struct {
	t      *testing.T
	st     store.Store
	dbPath string
	e      *Engine
	mu     sync.Mutex
	now    time.Time
	logbuf strings.Builder
}

func newEnv(t *testing.T) *env {
	return newEnvWith(t, nil)
}

func newEnvWith(t *testing.T, wrap func(Store) Store) *env {
	t.Helper()
	return newEnvOpts(t, wrap, nil)
}

// newEnvOpts is newEnvWith with engine options changed by opts.
func newEnvOpts(t *testing.T, wrap func(Store) Store, opts func(*Options)) *env {
	t.Helper()
	ctx := context.Background()
	dbPath := filepath.Join(t.TempDir(), "t.db")
	raw, err := store.Open(ctx, "sqlite://"+dbPath)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	v := &env{t: t, dbPath: dbPath, now: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
	// The production stack: the embedded store behind the cache.
	cached := store.NewCached(raw, store.CacheOptions{Now: v.clock})
	cached.Start(ctx)
	t.Cleanup(func() { cached.Close() })
	v.st = cached
	st := v.st
	var ts Store = st
	if wrap != nil {
		ts = wrap(ts)
	}
	o := DefaultOptions()
	o.Store, o.StoreTimeout, o.Now = ts, 200*time.Millisecond, v.clock
	// Parallel tests share the process's slow-hash slots, and a -race
	// build on a busy machine hashes slowly: no test but the one about it
	// should see a 503 for want of a slot.
	o.SlowWait = time.Minute
	// Every line in both of the binary's formats, so that the tests
	// searching the log (for secrets, among others) cover both.
	w := lockedWriter{v}
	o.Log = slog.New(slog.NewMultiHandler(slog.NewTextHandler(w, nil), slog.NewJSONHandler(w, nil)))
	if opts != nil {
		opts(&o)
	}
	v.e = mustEngine(o)
	v.client("app", testSecret, testConsumer.ID, store.Confidential)
	v.client("pub", "", testConsumer.Username, store.Public)
	return v
}

func (v *env) clock() time.Time {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.now
}

func (v *env) advance(d time.Duration) {
	v.mu.Lock()
	v.now = v.now.Add(d)
	v.mu.Unlock()
}

// lockedWriter appends to the env's log.
type lockedWriter struct{ v *env }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.v.mu.Lock()
	defer w.v.mu.Unlock()
	return w.v.logbuf.Write(p)
}

func (v *env) logs() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.logbuf.String()
}

func (v *env) client(id, secret, consumer, typ string, redirect ...string) {
	v.t.Helper()
	c := store.Client{ID: id, Name: id, Consumer: consumer, Type: typ, RedirectURIs: redirect, CreatedAt: time.Now().UTC().Truncate(time.Second)}
	if secret != "" {
		c.SecretDigest = store.DigestOf(secret)
	}
	if err := v.st.CreateClient(context.Background(), c); err != nil {
		v.t.Fatalf("create client: %v", err)
	}
}

// config builds a plugin instance the way go-pdk does. extra is merged
// into a base config on service svc-1 with scopes email, profile.
func (v *env) config(extra string) *Config {
	v.t.Helper()
	base := map[string]any{
		"provision_key": testProvisionKey, "scopes": []string{"email", "profile"},
		"service_id": testService, "route_id": "route-1", "__seq__": 7,
	}
	if extra != "" {
		var m map[string]any
		if err := json.Unmarshal([]byte(extra), &m); err != nil {
			v.t.Fatalf("bad test config %s: %v", extra, err)
		}
		for k, val := range m {
			if val == nil {
				delete(base, k)
				continue
			}
			base[k] = val
		}
	}
	raw, _ := json.Marshal(base)
	c := NewConfig(v.e)
	if err := json.Unmarshal(raw, c); err != nil {
		v.t.Fatalf("UnmarshalJSON failed: %v", err)
	}
	return c
}

// kong returns a fake Kong that knows the test consumer.
func (v *env) kong() *fakeKong {
	f := newFakeKong(v.t)
	f.serviceID = testService
	f.consumers[testConsumer.ID] = testConsumer
	f.consumers[testConsumer.Username] = testConsumer
	return f
}

// apiRequest is a proxied request to /api with the given query, headers,
// content type and body.
func (v *env) apiRequest(method, query string, header map[string]string, ct, body string) *fakeKong {
	f := v.kong()
	f.method, f.path, f.query, f.body = method, "/api", query, []byte(body)
	for k, val := range header {
		f.headers[k] = []string{val}
	}
	if ct != "" {
		f.headers["content-type"] = []string{ct}
	}
	return f
}

// tokenReq is an HTTPS form POST to /oauth2/token.
func (v *env) tokenReq(form url.Values) *fakeKong {
	f := v.kong()
	f.method, f.path = "POST", "/oauth2/token"
	f.headers["content-type"] = []string{"application/x-www-form-urlencoded"}
	f.body = []byte(form.Encode())
	return f
}

func passwordForm(extra ...string) url.Values {
	f := url.Values{
		"grant_type": {"password"}, "client_id": {"app"}, "client_secret": {testSecret},
		"provision_key": {testProvisionKey}, "authenticated_userid": {"user-1"}, "scope": {"email"},
	}
	return edited(f, extra)
}

// edited sets each name, value pair of extra in f; the value "<del>"
// deletes the name instead.
func edited(f url.Values, extra []string) url.Values {
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == "<del>" {
			f.Del(extra[i])
			continue
		}
		f.Set(extra[i], extra[i+1])
	}
	return f
}

// issue runs a password grant on c and returns the response.
func (v *env) issue(c *Config, extra ...string) map[string]any {
	v.t.Helper()
	f := v.tokenReq(passwordForm(extra...))
	access(c, f)
	m := f.json()
	if f.status != 200 {
		v.t.Fatalf("password grant: %d %v", f.status, m)
	}
	return m
}

// refresh runs a refresh grant on c.
func (v *env) refresh(c *Config, refresh string, extra ...string) *fakeKong {
	form := edited(url.Values{"grant_type": {"refresh_token"}, "client_id": {"app"}, "client_secret": {testSecret}, "refresh_token": {refresh}}, extra)
	f := v.tokenReq(form)
	access(c, f)
	return f
}

// jsonTokenReq is an HTTPS JSON POST to /oauth2/token: the only way to
// send parameters that are not strings.
func (v *env) jsonTokenReq(body map[string]any) *fakeKong {
	v.t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		v.t.Fatal(err)
	}
	f := v.kong()
	f.method, f.path = "POST", "/oauth2/token"
	f.headers["content-type"] = []string{"application/json"}
	f.body = b
	return f
}

// passwordJSON is passwordForm as a JSON object; in extra, a nil value
// deletes the key, jsonNull sends a JSON null, any other value replaces it.
func passwordJSON(extra map[string]any) map[string]any {
	m := map[string]any{}
	for k, vs := range passwordForm() {
		m[k] = vs[0]
	}
	for k, val := range extra {
		if val == nil {
			delete(m, k)
			continue
		}
		if val == jsonNull {
			val = nil
		}
		m[k] = val
	}
	return m
}

// jsonNull stands for a JSON null in passwordJSON.
var jsonNull = &struct{}{}

// proxy sends a proxied GET with the bearer token in the Authorization
// header.
func (v *env) proxy(c *Config, token string) *fakeKong {
	f := v.kong()
	f.path = "/api/things"
	if token != "" {
		f.headers["authorization"] = []string{"Bearer " + token}
	}
	access(c, f)
	return f
}

// expectProxied asserts the request went upstream authenticated.
func expectProxied(t *testing.T, f *fakeKong) {
	t.Helper()
	if f.exited {
		t.Fatalf("request answered %d %s, want proxied", f.status, f.respBody)
	}
	if f.authCalls != 1 {
		t.Fatalf("Authenticate called %d times", f.authCalls)
	}
}

func basic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
}

func str(m map[string]any, k string) string { s, _ := m[k].(string); return s }

// use makes the env report to the subtest t until t ends, so that a
// failure inside a table row is reported (and stops) under that row.
func (v *env) use(t *testing.T) {
	prev := v.t
	v.t = t
	t.Cleanup(func() { v.t = prev })
}

// mustEngine is NewEngine for options a test knows to be valid.
func mustEngine(o Options) *Engine {
	e, err := NewEngine(o)
	if err != nil {
		panic(err)
	}
	return e
}
