package plugin

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/plugin/jwtkeys"
	"github.com/oauth2-password/oauth2-password/store"
)

// BenchmarkAccessCachedTokenUpstreamJWT is BenchmarkAccessCachedToken with
// upstream_jwt on: the JWT comes from the token's cache entry, so the
// difference is one lookup and one header (signed once, before the timer).
func BenchmarkAccessCachedTokenUpstreamJWT(b *testing.B) {
	ctx := context.Background()
	raw, err := store.Open(ctx, "sqlite://"+filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	cached := store.NewCached(raw, store.CacheOptions{StaleIfError: time.Hour, MaxTTL: time.Hour})
	cached.Start(ctx)
	b.Cleanup(func() { cached.Close() })
	err = cached.CreateClient(ctx, store.Client{ID: "app", Name: "app", Consumer: testConsumer.ID,
		Type: store.Confidential, SecretDigest: store.DigestOf(testSecret), CreatedAt: time.Now().UTC().Truncate(time.Second)})
	if err != nil {
		b.Fatal(err)
	}
	pem, _ := jwtkeys.Generate(jwtkeys.TypeEd25519)
	k, err := jwtkeys.ParseKey(pem)
	if err != nil {
		b.Fatal(err)
	}
	o := DefaultOptions()
	o.Store, o.Log = cached, slog.New(slog.DiscardHandler)
	if o.Signer, err = jwtkeys.NewSet("https://auth.example.com", []*jwtkeys.Key{k}); err != nil {
		b.Fatal(err)
	}
	c := NewConfig(mustEngine(o))
	cfg, _ := json.Marshal(map[string]any{"provision_key": testProvisionKey, "scopes": []string{"email", "profile"},
		"service_id": testService, "route_id": "route-1", "upstream_jwt": true})
	if err := json.Unmarshal(cfg, c); err != nil {
		b.Fatal(err)
	}
	tok := issueBench(b, c)
	kg := &benchKong{method: "GET", path: "/api/things", auth: "Bearer " + tok, consumer: testConsumer}
	kg.handle(c) // warm the caches and sign the JWT
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		kg.handle(c)
	}
	b.StopTimer()
	if kg.exitStatus != 0 || kg.authenticated != b.N+1 {
		b.Fatalf("validation failed: exit %d", kg.exitStatus)
	}
}
