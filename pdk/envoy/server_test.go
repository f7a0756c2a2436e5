package envoy

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"path/filepath"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/genproto/googleapis/rpc/code"

	"github.com/oauth2-password/oauth2-password/pdk/httpfront"
	"github.com/oauth2-password/oauth2-password/plugin"
	"github.com/oauth2-password/oauth2-password/store"
)

const testToken = "Rk3uQ0c8yXbW2mJ5pT7vA9sD1fG4hL6n" // 32 characters, as the engine makes them

// newTestServer is Check over the production engine and store (embedded
// SQLite behind store.Cached) with one client of consumer bob and one
// valid token on each service: "orders" (defaults), "apikey"
// (auth_header_name X-Api-Token) and "under" (x_api_token, the same
// header as Kong reads it).
func newTestServer(tb testing.TB) *Server {
	tb.Helper()
	s, _ := newTestServerStore(tb, nil)
	return s
}

// newTestServerStore is newTestServer with more services (fields by
// name, each with its own valid token) and the store, to revoke in.
func newTestServerStore(tb testing.TB, more map[string]map[string]any) (*Server, *store.Cached) {
	tb.Helper()
	ctx := context.Background()
	raw, err := store.Open(ctx, "sqlite://"+filepath.Join(tb.TempDir(), "envoy.db"))
	if err != nil {
		tb.Fatal(err)
	}
	cached := store.NewCached(raw, store.CacheOptions{StaleIfError: time.Hour, MaxTTL: time.Hour})
	cached.Start(ctx)
	tb.Cleanup(func() { cached.Close() })
	now := time.Now().UTC().Truncate(time.Second)
	if err := cached.CreateClient(ctx, store.Client{ID: "app", Name: "app", Consumer: "bob", Type: store.Confidential,
		SecretDigest: store.DigestOf("secret-secret-secret-secret"), CreatedAt: now}); err != nil {
		tb.Fatal(err)
	}
	o := plugin.DefaultOptions()
	o.Store, o.Log = cached, slog.New(slog.DiscardHandler)
	e, err := plugin.NewEngine(o)
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{Services: map[string]*plugin.Config{}, Trusted: httpfront.Trusted{},
		Consumers: httpfront.NewDirectory([]plugin.Consumer{{ID: "bob-id", Username: "bob"}})}
	services := map[string]map[string]any{
		"orders": {"provision_key": "pk-orders-0123456789"},
		"apikey": {"provision_key": "pk-apikey-0123456789", "auth_header_name": "X-Api-Token"},
		"under":  {"provision_key": "pk-under-0123456789", "auth_header_name": "x_api_token"},
	}
	maps.Copy(services, more)
	for name, fields := range services {
		fields["service_id"] = name
		b, _ := json.Marshal(fields)
		c := plugin.NewConfig(e)
		if err := json.Unmarshal(b, c); err != nil || c.Err() != nil {
			tb.Fatalf("config %s: %v %v", name, err, c.Err())
		}
		s.Services[name] = c
		tok := name + testToken[len(name):]
		if err := cached.CreateToken(ctx, store.Token{Access: store.DigestOf(tok), ClientID: "app", ServiceID: name,
			AuthenticatedUserID: "user-1", Scope: "email", IssuedAt: now, ExpiresIn: 3600, FamilyID: name}); err != nil {
			tb.Fatal(err)
		}
	}
	return s, cached
}

// tokenOf is the valid token of a newTestServer service.
func tokenOf(service string) string { return service + testToken[len(service):] }

func checkOf(service string, headers map[string]string, raw bool) *authv3.CheckRequest {
	h := &authv3.AttributeContext_HttpRequest{Method: "GET", Path: "/things?page=1", Host: "api.example.com", Scheme: "https"}
	if raw {
		h.HeaderMap = &corev3.HeaderMap{}
		for k, v := range headers {
			h.HeaderMap.Headers = append(h.HeaderMap.Headers, &corev3.HeaderValue{Key: k, RawValue: []byte(v)})
		}
	} else {
		h.Headers = headers
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request:           &authv3.AttributeContext_Request{Http: h},
		ContextExtensions: map[string]string{ServiceKey: service}}}
}

// TestCheckAuthHeaderName: a service's auth_header_name is found in the
// lower-case names Envoy sends, in headers and in header_map; the
// Authorization header does not count there.
func TestCheckAuthHeaderName(t *testing.T) {
	s := newTestServer(t)
	for _, raw := range []bool{false, true} {
		for _, c := range []struct {
			service, header string
			want            code.Code
		}{
			{"apikey", "x-api-token", code.Code_OK},
			{"apikey", "authorization", code.Code_UNAUTHENTICATED},
			{"under", "x-api-token", code.Code_OK},
		} {
			resp, err := s.Check(context.Background(), checkOf(c.service, map[string]string{c.header: "Bearer " + tokenOf(c.service)}, raw))
			if err != nil {
				t.Fatal(err)
			}
			if got := code.Code(resp.GetStatus().GetCode()); got != c.want {
				t.Errorf("header_map %v, %s, token in %s: %v, want %v (%v)", raw, c.service, c.header, got, c.want, resp)
			}
		}
	}
}

// BenchmarkCheckCachedToken is one Check of a valid token whose token,
// client and consumer are cached: engine, request wrapper and the
// CheckResponse Envoy gets, without gRPC's own framing.
func BenchmarkCheckCachedToken(b *testing.B) {
	s := newTestServer(b)
	req := checkOf("orders", map[string]string{"authorization": "Bearer " + tokenOf("orders"), ":path": "/things?page=1",
		"x-request-id": "3f1c0b8e-7a51-4a70-9a5e-1b2c3d4e5f60", "user-agent": "curl/8.5.0"}, false)
	ctx := context.Background()
	resp, err := s.Check(ctx, req) // warm the caches
	if err != nil || resp.GetStatus().GetCode() != int32(code.Code_OK) {
		b.Fatalf("warm-up Check: %v %v", resp, err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		resp, err = s.Check(ctx, req)
	}
	b.StopTimer()
	if err != nil || resp.GetStatus().GetCode() != int32(code.Code_OK) || len(resp.GetOkResponse().GetHeaders()) != 5 {
		b.Fatalf("Check: %v %v", resp, err)
	}
}

// TestCheckResponseManyHeaders: an allowed answer carries every header the
// engine sets or removes, beyond the seven of each its block holds.
func TestCheckResponseManyHeaders(t *testing.T) {
	d := plugin.Decision{Upstream: map[string][]string{}}
	for i := range 9 {
		d.Upstream["X-Set-"+string(rune('a'+i))] = []string{"v"}
		d.Upstream["X-Gone-"+string(rune('a'+i))] = []string{}
	}
	resp := checkResponse(&d, &request{})
	ok := resp.GetOkResponse()
	if len(ok.GetHeaders()) != 9 || len(ok.GetHeadersToRemove()) != 9 {
		t.Fatalf("%d headers set, %d removed; want 9 and 9", len(ok.GetHeaders()), len(ok.GetHeadersToRemove()))
	}
	seen := map[string]bool{}
	for _, h := range ok.GetHeaders() {
		if h.GetHeader().GetValue() != "v" || seen[h.GetHeader().GetKey()] {
			t.Errorf("header %v", h)
		}
		seen[h.GetHeader().GetKey()] = true
	}
}
