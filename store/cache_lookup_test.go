package store_test

import (
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/store"
)

// TestCachedLookups: CachedAccess and CachedClient answer what
// TokenByAccess and Client would, from memory only, and miss (rather than
// answer stale or expired data) whenever the full lookup must run.
func TestCachedLookups(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			clk := newClock()
			c := store.NewCached(open(), store.CacheOptions{Now: clk.Now, StaleIfError: time.Hour})
			t.Cleanup(func() { c.Close() })
			ctx := t.Context()
			cl := store.Client{ID: "c1", Name: "n", Consumer: "bob", Type: store.Public, CreatedAt: time.Unix(1700000000, 0)}
			if err := c.CreateClient(ctx, cl); err != nil {
				t.Fatal(err)
			}
			tok := newToken(t, "c1", clk.Now(), 60)
			if err := c.CreateToken(ctx, tok); err != nil {
				t.Fatal(err)
			}
			if _, ok := c.CachedAccess(tok.Access); ok {
				t.Fatal("CachedAccess hit before the cache ever synced")
			}
			c.Start(ctx)
			if _, ok := c.CachedAccess(tok.Access); ok {
				t.Fatal("token issued before Start found in the cache")
			}
			if _, ok := c.CachedClient("c1"); ok {
				t.Fatal("client found in the cache before any lookup")
			}
			if _, err := c.TokenByAccess(ctx, tok.Access); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Client(ctx, "c1"); err != nil {
				t.Fatal(err)
			}
			q := c.StoreQueries()
			got, ok := c.CachedAccess(tok.Access)
			if !ok {
				t.Fatal("CachedAccess missed a cached token")
			}
			want := tok.AccessToken()
			if got.ClientID != want.ClientID || got.ServiceID != want.ServiceID || got.Scope != want.Scope ||
				got.AuthenticatedUserID != want.AuthenticatedUserID || got.ExpiresIn != want.ExpiresIn ||
				got.IssuedAt.Unix() != want.IssuedAt.Unix() || got.Revoked {
				t.Fatalf("CachedAccess = %+v, want %+v", got, want)
			}
			gotCl, ok := c.CachedClient("c1")
			if !ok || gotCl.ID != "c1" || gotCl.Consumer != "bob" || gotCl.Type != store.Public {
				t.Fatalf("CachedClient = %+v, %v", gotCl, ok)
			}
			if d := c.StoreQueries() - q; d != 0 {
				t.Fatalf("cache-only lookups made %d store queries", d)
			}

			// Issued before the revocation below: the revocation's
			// notification, applied in the background, may arrive while a
			// token is being issued, and then (by design) that token is
			// not cached until its first lookup.
			live := newToken(t, "c1", clk.Now(), 60)
			if err := c.CreateToken(ctx, live); err != nil {
				t.Fatal(err)
			}
			if _, ok := c.CachedAccess(live.Access); !ok {
				t.Fatal("a token this process issued is not cached")
			}

			var unknown store.Digest
			unknown[0] = 1
			if _, ok := c.CachedAccess(unknown); ok {
				t.Fatal("unknown token found")
			}
			if _, err := c.Revoke(ctx, store.Revocation{Access: &tok.Access}); err != nil {
				t.Fatal(err)
			}
			if _, ok := c.CachedAccess(tok.Access); ok {
				t.Fatal("revoked token still answered from the cache")
			}

			clk.Add(61 * time.Second)
			if _, ok := c.CachedAccess(live.Access); ok {
				t.Fatal("expired token answered from the cache")
			}
		})
	}
}
