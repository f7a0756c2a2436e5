package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"runtime"
	"time"

	"github.com/oauth2-password/oauth2-password/pdk/kongaccess"
	"github.com/oauth2-password/oauth2-password/plugin"
	"github.com/oauth2-password/oauth2-password/store"
)

// fakeKong is a Kong for in-process requests: one request's fields and
// outcome.
type fakeKong struct {
	method, path, auth string
	body               []byte
	headers            map[string][]string
	consumer           plugin.Consumer

	exitStatus    int
	exitBody      []byte
	authenticated int
}

func (k *fakeKong) Method() (string, error) { return k.method, nil }
func (k *fakeKong) Path() (string, error)   { return k.path, nil }
func (k *fakeKong) Header(name string) (string, error) {
	if name == "authorization" {
		return k.auth, nil
	}
	if v := k.headers[name]; len(v) > 0 {
		return v[0], nil
	}
	return "", nil
}
func (k *fakeKong) Headers() (map[string][]string, error)        { return k.headers, nil }
func (k *fakeKong) RawQuery() (string, error)                    { return "", nil }
func (k *fakeKong) RawBody() ([]byte, error)                     { return k.body, nil }
func (k *fakeKong) Scheme() (string, error)                      { return "https", nil }
func (k *fakeKong) ClientIP() (string, error)                    { return "127.0.0.1", nil }
func (k *fakeKong) ForwardedIP() (string, error)                 { return "127.0.0.1", nil }
func (k *fakeKong) IsTrustedIP(string) (bool, error)             { return false, nil }
func (k *fakeKong) ServiceID() (string, error)                   { return "svc", nil }
func (k *fakeKong) HasCredential() (bool, error)                 { return false, nil }
func (k *fakeKong) SetUpstreamHeaders(map[string][]string) error { return nil }
func (k *fakeKong) SetUpstreamRawQuery(string) error             { return nil }
func (k *fakeKong) SetUpstreamRawBody([]byte) error              { return nil }
func (k *fakeKong) LogErr(string)                                {}
func (k *fakeKong) LoadConsumer(string) (plugin.Consumer, bool, error) {
	return k.consumer, true, nil
}
func (k *fakeKong) Authenticate(plugin.Consumer, *plugin.Credential) error {
	k.authenticated++
	return nil
}
func (k *fakeKong) Exit(status int, body []byte, _ map[string][]string) {
	k.exitStatus, k.exitBody = status, body
}

// storeQueriesPerValidation runs n validations of one token through the
// engine over store.Cached over the PostgreSQL database the plugin uses,
// after one warm-up validation, and returns the store queries per request.
func storeQueriesPerValidation(ctx context.Context, dbURL string, cl client, n int) (float64, error) {
	raw, err := store.Open(ctx, dbURL)
	if err != nil {
		return 0, err
	}
	cached := store.NewCached(raw, store.CacheOptions{})
	cached.Start(ctx)
	defer cached.Close()
	o := plugin.DefaultOptions()
	o.Store, o.Log = cached, slog.New(slog.DiscardHandler)
	e, err := plugin.NewEngine(o)
	if err != nil {
		return 0, err
	}
	conf := plugin.NewConfig(e)
	cfg, _ := json.Marshal(map[string]any{"provision_key": provisionKey, "service_id": "svc"})
	if err := json.Unmarshal(cfg, conf); err != nil {
		return 0, err
	}
	consumer := plugin.Consumer{ID: "4b1a6ad4-0000-4000-8000-000000000001", Username: "bob"}

	form := url.Values{"grant_type": {"password"}, "provision_key": {provisionKey},
		"authenticated_userid": {"user-1"}, "client_id": {cl.ID}, "client_secret": {cl.Secret}}
	tk := &fakeKong{method: "POST", path: "/oauth2/token", body: []byte(form.Encode()),
		headers: map[string][]string{"content-type": {"application/x-www-form-urlencoded"}}, consumer: consumer}
	kongaccess.Access(conf, tk)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if tk.exitStatus != 200 || json.Unmarshal(tk.exitBody, &tok) != nil {
		return 0, fmt.Errorf("in-process password grant answered %d %s", tk.exitStatus, tk.exitBody)
	}
	k := &fakeKong{method: "GET", path: "/orders", auth: "Bearer " + tok.AccessToken, consumer: consumer}
	kongaccess.Access(conf, k) // warm-up: client and consumer caches
	before := cached.StoreQueries()
	for range n {
		kongaccess.Access(conf, k)
	}
	if k.exitStatus != 0 || k.authenticated != n+1 {
		return 0, fmt.Errorf("in-process validation failed: exit %d, %d of %d authenticated", k.exitStatus, k.authenticated, n+1)
	}
	return float64(cached.StoreQueries()-before) / float64(n), nil
}

// nullStore keeps nothing: Cached in front of it holds the only copy of
// each token, so the heap growth is the cache's.
type nullStore struct{ store.Store }

func (nullStore) Close() error                                   { return nil }
func (nullStore) CreateToken(context.Context, store.Token) error { return nil }
func (nullStore) Changes(context.Context, int64) ([]store.Change, int64, error) {
	return nil, 0, nil
}

// heapPerCachedToken caches n tokens shaped like the plugin's (random
// digests and family id, a 32-character client id, a UUID service id, a
// distinct user id each, a refresh token) and returns the heap growth per
// token after a GC: store.Cached's entry, key and map slot together.
func heapPerCachedToken(ctx context.Context, n int) (float64, error) {
	c := store.NewCached(nullStore{}, store.CacheOptions{StaleIfError: time.Hour, MaxTTL: time.Hour})
	defer c.Close()
	if err := c.Sync(ctx); err != nil {
		return 0, err
	}
	seed := make([]byte, 16*n)
	if _, err := rand.Read(seed); err != nil {
		return 0, err
	}
	digests := make([]store.Digest, n)
	for i := range digests {
		if _, err := rand.Read(digests[i][:]); err != nil {
			return 0, err
		}
	}
	now := time.Now().Truncate(time.Second)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i, d := range digests {
		refresh := d
		refresh[0] ^= 0xff
		err := c.CreateToken(ctx, store.Token{
			Access: d, Refresh: &refresh,
			ClientID:            "Zk3hQv9T1mWcR8pLx2NdA6sYbE4uJf7G",
			ServiceID:           "6f1c9a52-3b8e-4d27-9c1a-5e0b7f2d4a81",
			AuthenticatedUserID: fmt.Sprintf("user-%07d", i),
			IssuedAt:            now, ExpiresIn: 7200, RefreshExpiresAt: now.Add(14 * 24 * time.Hour),
			FamilyID: hex.EncodeToString(seed[16*i : 16*i+16]),
		})
		if err != nil {
			return 0, err
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if _, ok := c.CachedAccess(digests[n-1]); !ok {
		return 0, fmt.Errorf("tokens were not cached")
	}
	runtime.KeepAlive(digests)
	runtime.KeepAlive(seed)
	return (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / float64(n), nil
}
