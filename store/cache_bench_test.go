package store_test

import (
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/store"
)

// benchCache is a live cache over a store without a database, holding one
// token.
func benchCache(b *testing.B) (*store.Cached, store.Digest) {
	b.Helper()
	f := &fixedStore{tok: newToken(b, "client-with-a-typical-uuid-0000000000", time.Now(), 3600)}
	c := store.NewCached(f, store.CacheOptions{StaleIfError: time.Hour})
	b.Cleanup(func() { c.Close() })
	if err := c.Sync(b.Context()); err != nil {
		b.Fatal(err)
	}
	var d store.Digest
	copy(d[:], randBytes(b))
	if _, err := c.TokenByAccess(b.Context(), d); err != nil {
		b.Fatal(err)
	}
	return c, d
}

// BenchmarkCachedTokenByAccess is a cache hit through the full Store
// method: the whole Token is rebuilt.
func BenchmarkCachedTokenByAccess(b *testing.B) {
	c, d := benchCache(b)
	ctx := b.Context()
	q := c.StoreQueries()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.TokenByAccess(ctx, d); err != nil {
			b.Fatal(err)
		}
	}
	if c.StoreQueries() != q {
		b.Fatal("cache hits went to the store")
	}
}

// BenchmarkCachedAccess is the lookup request validation makes.
func BenchmarkCachedAccess(b *testing.B) {
	c, d := benchCache(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := c.CachedAccess(d); !ok {
			b.Fatal("miss")
		}
	}
}

// BenchmarkCachedAccessParallel: the same from every P at once (one lock
// guards the token cache).
func BenchmarkCachedAccessParallel(b *testing.B) {
	c, d := benchCache(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, ok := c.CachedAccess(d); !ok {
				b.Error("miss")
				return
			}
		}
	})
}
