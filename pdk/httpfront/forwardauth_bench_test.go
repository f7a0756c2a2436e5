package httpfront

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/plugin"
	"github.com/oauth2-password/oauth2-password/plugin/jwtkeys"
	"github.com/oauth2-password/oauth2-password/store"
)

// BenchmarkForwardAuthCachedToken is one forward-auth check of a cached
// token through the handler, without the network: what serve adds to
// net/http per request.
func BenchmarkForwardAuthCachedToken(b *testing.B) {
	s, token, _ := newForwardAuthService(b, `{"provision_key":"pk-bench-0123456789","service_id":"orders"}`)
	auth := httptest.NewRequest("GET", "http://serve/services/orders/auth", nil)
	auth.Header.Set("Authorization", "Bearer "+token)
	rw := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		clear(rw.h)
		s.ForwardAuth(rw, auth)
		if rw.code != 200 {
			b.Fatalf("forward auth answered %d", rw.code)
		}
	}
}

// newForwardAuthService is a Service with config (provision_key
// pk-bench-0123456789) over the production engine and store (embedded
// SQLite behind store.Cached) with an Ed25519 signing key (for
// upstream_jwt), one client of consumer bob, and a token from its token
// endpoint.
func newForwardAuthService(b testing.TB, config string) (*Service, string, *store.Cached) {
	b.Helper()
	ctx := context.Background()
	raw, err := store.Open(ctx, "sqlite:"+filepath.Join(b.TempDir(), "b.db"))
	if err != nil {
		b.Fatal(err)
	}
	cached := store.NewCached(raw, store.CacheOptions{})
	cached.Start(ctx)
	b.Cleanup(func() { cached.Close() })
	const secret = "secret-0123456789abcdef"
	if err := cached.CreateClient(ctx, store.Client{ID: "app", Consumer: "bob", Type: store.Confidential,
		SecretDigest: store.DigestOf(secret), CreatedAt: time.Now().UTC().Truncate(time.Second)}); err != nil {
		b.Fatal(err)
	}
	o := plugin.DefaultOptions()
	o.Store = cached
	pem, _ := jwtkeys.Generate(jwtkeys.TypeEd25519)
	k, err := jwtkeys.ParseKey(pem)
	if err != nil {
		b.Fatal(err)
	}
	if o.Signer, err = jwtkeys.NewSet("https://auth.example.com", []*jwtkeys.Key{k}); err != nil {
		b.Fatal(err)
	}
	e, err := plugin.NewEngine(o)
	if err != nil {
		b.Fatal(err)
	}
	c := plugin.NewConfig(e)
	if err := json.Unmarshal([]byte(config), c); err != nil {
		b.Fatal(err)
	}
	s := &Service{Config: c, Consumers: NewDirectory(nil), MaxBody: 64 << 10}
	req := httptest.NewRequest("POST", "https://orders.test/services/orders/oauth2/token",
		strings.NewReader("grant_type=password&provision_key=pk-bench-0123456789&authenticated_userid=u&client_id=app&client_secret="+secret))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	s.Token(w, req)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &tok) != nil {
		b.Fatalf("token: %d %s", w.Code, w.Body)
	}
	return s, tok.AccessToken, cached
}

// discardWriter is a ResponseWriter that keeps only the status.
type discardWriter struct {
	h    http.Header
	code int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(code int)        { d.code = code }
