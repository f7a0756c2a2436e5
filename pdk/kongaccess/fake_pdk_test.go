package kongaccess

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/plugin"
	"github.com/oauth2-password/oauth2-password/plugin/jwtkeys"
	"github.com/oauth2-password/oauth2-password/store"
)

// fakePDK is Kong for one request: it serves the request's fields,
// records every PDK call (reads and the calls that carry out the decision)
// and fails the test on a call after Exit.
type fakePDK struct {
	t *testing.T

	method, path, scheme string
	trustedIP            bool
	headers              map[string][]string
	query                string
	body                 []byte
	hasCredential        bool
	consumers            map[string]plugin.Consumer
	panicOn              string // a method that panics

	calls    []string
	upstream map[string][]string // what SetUpstreamHeaders sent
	exited   bool
	status   int
	answer   []byte
}

func (f *fakePDK) call(name string) {
	f.t.Helper()
	if f.exited {
		f.t.Errorf("PDK call %s after Exit", name)
	}
	f.calls = append(f.calls, name)
	if f.panicOn == name {
		panic("fake kong: " + name + " exploded")
	}
}

func (f *fakePDK) Method() (string, error) { f.call("Method"); return f.method, nil }
func (f *fakePDK) Path() (string, error)   { f.call("Path"); return f.path, nil }
func (f *fakePDK) Header(name string) (string, error) {
	f.call("Header")
	if v := f.headers[name]; len(v) > 0 {
		return v[0], nil
	}
	return "", nil
}
func (f *fakePDK) Headers() (map[string][]string, error) { f.call("Headers"); return f.headers, nil }
func (f *fakePDK) RawQuery() (string, error)             { f.call("RawQuery"); return f.query, nil }
func (f *fakePDK) RawBody() ([]byte, error)              { f.call("RawBody"); return f.body, nil }
func (f *fakePDK) Scheme() (string, error)               { f.call("Scheme"); return f.scheme, nil }
func (f *fakePDK) ClientIP() (string, error)             { f.call("ClientIP"); return "10.0.0.1", nil }
func (f *fakePDK) IsTrustedIP(string) (bool, error)      { f.call("IsTrustedIP"); return f.trustedIP, nil }
func (f *fakePDK) ForwardedIP() (string, error)          { f.call("ForwardedIP"); return "10.0.0.1", nil }
func (f *fakePDK) ServiceID() (string, error)            { f.call("ServiceID"); return testService, nil }
func (f *fakePDK) HasCredential() (bool, error) {
	f.call("HasCredential")
	return f.hasCredential, nil
}
func (f *fakePDK) LoadConsumer(ref string) (plugin.Consumer, bool, error) {
	f.call("LoadConsumer")
	c, ok := f.consumers[ref]
	return c, ok, nil
}
func (f *fakePDK) Authenticate(plugin.Consumer, *plugin.Credential) error {
	f.call("Authenticate")
	return nil
}
func (f *fakePDK) SetUpstreamHeaders(h map[string][]string) error {
	f.call("SetUpstreamHeaders")
	f.upstream = maps.Clone(h)
	return nil
}
func (f *fakePDK) SetUpstreamRawQuery(string) error { f.call("SetUpstreamRawQuery"); return nil }
func (f *fakePDK) SetUpstreamRawBody([]byte) error  { f.call("SetUpstreamRawBody"); return nil }
func (f *fakePDK) Exit(status int, body []byte, _ map[string][]string) {
	f.call("Exit")
	f.exited, f.status, f.answer = true, status, body
}
func (f *fakePDK) LogErr(string) { f.call("LogErr") }

const (
	testService      = "svc-1"
	testProvisionKey = "provision-key-0123456789"
	testSecret       = "secret-0123456789abcdef"
)

var testConsumer = plugin.Consumer{ID: "4b1a6ad4-0000-4000-8000-000000000001", Username: "alice"}

// kongEnv is an engine over the embedded store behind the cache, with one
// confidential client of testConsumer.
type kongEnv struct {
	t  *testing.T
	st *store.Cached
	e  *plugin.Engine
}

func newKongEnv(t *testing.T) *kongEnv {
	t.Helper()
	ctx := context.Background()
	raw, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	cached := store.NewCached(raw, store.CacheOptions{})
	cached.Start(ctx)
	t.Cleanup(func() { cached.Close() })
	err = cached.CreateClient(ctx, store.Client{ID: "app", Name: "app", Consumer: testConsumer.ID,
		Type: store.Confidential, SecretDigest: store.DigestOf(testSecret), CreatedAt: time.Now().UTC().Truncate(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	v := &kongEnv{t: t, st: cached}
	v.e = v.newEngine()
	return v
}

func (v *kongEnv) newEngine() *plugin.Engine {
	v.t.Helper()
	o := plugin.DefaultOptions()
	o.Store, o.Log = v.st, slog.New(slog.NewTextHandler(testWriter{v.t}, nil))
	o.Signer = testSigner(v.t)
	e, err := plugin.NewEngine(o)
	if err != nil {
		v.t.Fatal(err)
	}
	return e
}

// config is an instance config on testService, as go-pdk builds it; extra
// fields are merged in (null deletes one).
func (v *kongEnv) config(extra string) *plugin.Config { return v.configOn(v.e, extra) }

func (v *kongEnv) configOn(e *plugin.Engine, extra string) *plugin.Config {
	v.t.Helper()
	base := map[string]any{"provision_key": testProvisionKey, "service_id": testService}
	if extra != "" {
		var m map[string]any
		if err := json.Unmarshal([]byte(extra), &m); err != nil {
			v.t.Fatal(err)
		}
		for k, val := range m {
			if val == nil {
				delete(base, k)
			} else {
				base[k] = val
			}
		}
	}
	raw, _ := json.Marshal(base)
	c := plugin.NewConfig(e)
	if err := json.Unmarshal(raw, c); err != nil {
		v.t.Fatal(err)
	}
	return c
}

// testSigner is a key set of one fresh Ed25519 key (upstream_jwt).
func testSigner(t *testing.T) *jwtkeys.Set {
	pem, err := jwtkeys.Generate(jwtkeys.TypeEd25519)
	if err != nil {
		t.Fatal(err)
	}
	k, err := jwtkeys.ParseKey(pem)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwtkeys.NewSet("https://auth.example.com", []*jwtkeys.Key{k})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (v *kongEnv) pdk() *fakePDK {
	return &fakePDK{t: v.t, method: "GET", path: "/", scheme: "https", headers: map[string][]string{},
		consumers: map[string]plugin.Consumer{testConsumer.ID: testConsumer, testConsumer.Username: testConsumer}}
}

// tokenForm makes f an HTTPS password-grant form POST.
func tokenForm(f *fakePDK) {
	f.method, f.path = "POST", "/oauth2/token"
	f.headers["content-type"] = []string{"application/x-www-form-urlencoded"}
	f.body = []byte(url.Values{"grant_type": {"password"}, "client_id": {"app"}, "client_secret": {testSecret},
		"provision_key": {testProvisionKey}, "authenticated_userid": {"user-1"}}.Encode())
}

// issue gets an access token through Access.
func (v *kongEnv) issue(c *plugin.Config) string {
	v.t.Helper()
	f := v.pdk()
	tokenForm(f)
	Access(c, f)
	var m struct {
		AccessToken string `json:"access_token"`
	}
	if f.status != 200 || json.Unmarshal(f.answer, &m) != nil {
		v.t.Fatalf("password grant: %d %s", f.status, f.answer)
	}
	return m.AccessToken
}

// testWriter writes log lines into the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}
