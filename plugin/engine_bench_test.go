package plugin

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/store"
)

// The hot paths of the engine without the socket: what the plugin itself
// costs per request on top of the PDK round trips. `make bench` runs these
// with -benchmem; the output is benchstat's input format.

// benchKong is a Kong that answers from fixed fields and records nothing
// that allocates, so that a benchmark measures the engine alone.
type benchKong struct {
	method, path, auth, ct, scheme string
	body                           []byte
	headers                        map[string][]string
	consumer                       Consumer
	exitStatus, authenticated      int
	answer                         []byte // the answer's body
}

func (k *benchKong) Method() (string, error) { return k.method, nil }
func (k *benchKong) Path() (string, error)   { return k.path, nil }
func (k *benchKong) Header(name string) (string, error) {
	switch name {
	case "authorization":
		return k.auth, nil
	case "content-type":
		return k.ct, nil
	}
	return "", nil
}
func (k *benchKong) Headers() (map[string][]string, error) { return k.headers, nil }
func (k *benchKong) RawQuery() (string, error)             { return "", nil }
func (k *benchKong) RawBody() ([]byte, error)              { return k.body, nil }
func (k *benchKong) Scheme() (string, error)               { return k.scheme, nil }
func (k *benchKong) ClientIP() (string, error)             { return "127.0.0.1", nil }
func (k *benchKong) ForwardedIP() (string, error)          { return "127.0.0.1", nil }
func (k *benchKong) IsTrustedIP(string) (bool, error)      { return false, nil }
func (k *benchKong) ServiceID() (string, error)            { return testService, nil }
func (k *benchKong) HasCredential() (bool, error)          { return false, nil }
func (k *benchKong) LoadConsumer(string) (Consumer, bool, error) {
	return k.consumer, true, nil
}

// handle runs the engine on k and keeps what the benchmarks check: the
// answer's status and body, and authentications.
func (k *benchKong) handle(c *Config) {
	start := time.Now()
	d := c.Handle(context.Background(), k, k)
	c.Observe(FrontKong, &d, start) // as every front does
	if d.Answer != nil {
		k.exitStatus, k.answer = d.Answer.Status, d.Answer.Body
	} else if d.Authenticate {
		k.authenticated++
	}
	d.Release()
}

// benchEngine is the production stack (embedded store behind store.Cached)
// with one confidential client, and an instance config on testService.
func benchEngine(b *testing.B) (*Config, *store.Cached) { return benchEngineWith(b, nil, nil) }

// benchEngineWith is benchEngine with metrics: m told of cache lookups,
// obs of every request.
func benchEngineWith(b *testing.B, m store.Metrics, obs Observer) (*Config, *store.Cached) {
	b.Helper()
	ctx := context.Background()
	raw, err := store.Open(ctx, "sqlite://"+filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	cached := store.NewCached(raw, store.CacheOptions{StaleIfError: time.Hour, MaxTTL: time.Hour, Metrics: m})
	cached.Start(ctx)
	b.Cleanup(func() { cached.Close() })
	err = cached.CreateClient(ctx, store.Client{ID: "app", Name: "app", Consumer: testConsumer.ID,
		Type: store.Confidential, SecretDigest: store.DigestOf(testSecret), CreatedAt: time.Now().UTC().Truncate(time.Second)})
	if err != nil {
		b.Fatal(err)
	}
	o := DefaultOptions()
	o.Store, o.Log, o.Observer = cached, slog.New(slog.DiscardHandler), obs
	e := mustEngine(o)
	c := NewConfig(e)
	cfg, _ := json.Marshal(map[string]any{"provision_key": testProvisionKey, "scopes": []string{"email", "profile"},
		"service_id": testService, "route_id": "route-1"})
	if err := json.Unmarshal(cfg, c); err != nil {
		b.Fatal(err)
	}
	return c, cached
}

// issueBench gets a token from the engine's own token endpoint.
func issueBench(b *testing.B, c *Config) string {
	b.Helper()
	k := tokenBenchKong()
	var got struct {
		AccessToken string `json:"access_token"`
	}
	k.handle(c)
	if k.exitStatus != 200 || json.Unmarshal(k.answer, &got) != nil || got.AccessToken == "" {
		b.Fatalf("password grant answered %d %s", k.exitStatus, k.answer)
	}
	return got.AccessToken
}

func tokenBenchKong() *benchKong {
	body := url.Values{"grant_type": {"password"}, "client_id": {"app"}, "client_secret": {testSecret},
		"provision_key": {testProvisionKey}, "authenticated_userid": {"user-1"}, "scope": {"email"}}.Encode()
	return &benchKong{method: "POST", path: "/oauth2/token", scheme: "https",
		ct: "application/x-www-form-urlencoded", body: []byte(body),
		headers:  map[string][]string{"content-type": {"application/x-www-form-urlencoded"}},
		consumer: testConsumer}
}

// BenchmarkAccessCachedToken is a proxied request with a valid bearer token
// whose token, client and consumer are all cached: the path every API call
// takes. It also fails if a validation reaches the store.
func BenchmarkAccessCachedToken(b *testing.B) { benchCachedToken(b, nil, nil) }

// benchCachedToken is BenchmarkAccessCachedToken with metrics m and obs
// (BenchmarkAccessCachedTokenMetrics, in package plugin_test, which may
// import the metrics package).
func benchCachedToken(b *testing.B, m store.Metrics, obs Observer) {
	c, cached := benchEngineWith(b, m, obs)
	tok := issueBench(b, c)
	k := &benchKong{method: "GET", path: "/api/things", auth: "Bearer " + tok, consumer: testConsumer}
	k.handle(c) // warm the client and consumer caches
	q := cached.StoreQueries()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		k.handle(c)
	}
	b.StopTimer()
	if k.exitStatus != 0 || k.authenticated != b.N+1 {
		b.Fatalf("validation failed: exit %d, %d authentications for %d requests", k.exitStatus, k.authenticated, b.N+1)
	}
	if d := cached.StoreQueries() - q; d != 0 {
		b.Fatalf("%d store queries for %d cached validations", d, b.N)
	}
}

// BenchmarkAccessCachedTokenParallel is the same under GOMAXPROCS
// goroutines: the shared caches' locks are on this path.
func BenchmarkAccessCachedTokenParallel(b *testing.B) {
	c, _ := benchEngine(b)
	tok := issueBench(b, c)
	(&benchKong{method: "GET", path: "/api/things", auth: "Bearer " + tok, consumer: testConsumer}).handle(c)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		k := &benchKong{method: "GET", path: "/api/things", auth: "Bearer " + tok, consumer: testConsumer}
		for pb.Next() {
			k.handle(c)
		}
		if k.exitStatus != 0 {
			b.Errorf("validation failed: exit %d", k.exitStatus)
		}
	})
}

// BenchmarkAccessUnknownToken is a request with a token the store does not
// know, the same one each time: its check value refuses it without a
// store query (misses are never cached; see unknown_budget.go).
func BenchmarkAccessUnknownToken(b *testing.B) {
	c, _ := benchEngine(b)
	k := &benchKong{method: "GET", path: "/api/things", auth: "Bearer 0123456789abcdefghijklmnopqrstuv", consumer: testConsumer}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		k.handle(c)
	}
	if k.exitStatus != 401 {
		b.Fatalf("unknown token answered %d", k.exitStatus)
	}
}

// BenchmarkParseTokenRequest is the parsing of a password-grant form body
// and the extraction of the client credentials from it.
func BenchmarkParseTokenRequest(b *testing.B) {
	k := tokenBenchKong()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		p, err := parseBody(bodyKindOf(k.ct), k.ct, k.body)
		if err != nil || p == nil {
			b.Fatal("form not parsed")
		}
		if cc := extractClientCredentials(p, nil); cc.id != "app" {
			b.Fatalf("client_id %q", cc.id)
		}
	}
}

// BenchmarkAuthenticateClient is the client-secret check of a confidential
// client (SHA-256 and a constant-time compare).
func BenchmarkAuthenticateClient(b *testing.B) {
	cl := store.Client{ID: "app", Type: store.Confidential, SecretDigest: store.DigestOf(testSecret)}
	cc := clientCredentials{id: "app", secret: testSecret}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if e := authenticateClient(cl, true, cc); e != nil {
			b.Fatal(e)
		}
	}
}

// nullTokens is a Store that stores nothing: the password grant then
// costs only the engine (and crypto/rand).
type nullTokens struct{ client store.Client }

func (n nullTokens) Client(context.Context, string) (store.Client, error) { return n.client, nil }
func (n nullTokens) CreateToken(context.Context, store.Token) error       { return nil }
func (n nullTokens) TokenByAccess(context.Context, store.Digest) (store.Token, error) {
	return store.Token{}, store.ErrNotFound
}
func (n nullTokens) TokenByRefresh(context.Context, store.Digest) (store.Token, error) {
	return store.Token{}, store.ErrNotFound
}
func (n nullTokens) RotateRefresh(context.Context, store.Digest, store.Token) error { return nil }
func (n nullTokens) ReissueAccess(context.Context, store.Digest, store.Digest, time.Time, int64, time.Time) error {
	return nil
}
func (n nullTokens) Revoke(context.Context, store.Revocation) (int, error) { return 0, nil }

// BenchmarkPasswordGrant is a whole token request (parse, client
// authentication, minting, JSON answer) over a store that writes nothing.
func BenchmarkPasswordGrant(b *testing.B) {
	o := DefaultOptions()
	o.Store = nullTokens{store.Client{ID: "app", Consumer: testConsumer.ID,
		Type: store.Confidential, SecretDigest: store.DigestOf(testSecret)}}
	o.Log = slog.New(slog.DiscardHandler)
	e := mustEngine(o)
	c := NewConfig(e)
	if err := json.Unmarshal([]byte(`{"provision_key":"`+testProvisionKey+`","scopes":["email"],"service_id":"`+testService+`"}`), c); err != nil {
		b.Fatal(err)
	}
	k := tokenBenchKong()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		k.handle(c)
	}
	if k.exitStatus != 200 {
		b.Fatalf("password grant answered %d", k.exitStatus)
	}
}

// BenchmarkAccessMadeUpToken is a flood of made-up bearer tokens from one
// address, each a new one of the issued shape: refused by the check value
// and the address's lookup budget (unknown_budget.go). queries/op is the
// store lookups per made-up token; `make bench` checks it is at most 0.1.
func BenchmarkAccessMadeUpToken(b *testing.B) {
	c, cached := benchEngine(b)
	issueBench(b, c) // the check key is read, as on a node in service
	toks := make([]string, 4096)
	for i := range toks {
		toks[i], _ = RandomString()
	}
	k := &benchKong{method: "GET", path: "/api/things", consumer: testConsumer}
	q := cached.StoreQueries()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		k.auth = "Bearer " + toks[i%len(toks)]
		k.handle(c)
	}
	b.StopTimer()
	if k.exitStatus != 401 {
		b.Fatalf("made-up token answered %d", k.exitStatus)
	}
	b.ReportMetric(float64(cached.StoreQueries()-q)/float64(b.N), "queries/op")
}

// BenchmarkTokenCheckValue is the check of one token's check value
// (HMAC-SHA-256 of 24 characters): what a made-up token costs before it is
// refused, and what a real token costs on a cache miss.
func BenchmarkTokenCheckValue(b *testing.B) {
	ck := newTokenChecker([]byte("0123456789abcdef0123456789abcdef"))
	tok, _ := ck.newToken()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if !ck.valid(tok) {
			b.Fatal("check failed")
		}
	}
}
