package store_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/store"
)

func randBytes(t testing.TB) []byte {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func newToken(t testing.TB, clientID string, issued time.Time, expiresIn int64) store.Token {
	var a, r store.Digest
	copy(a[:], randBytes(t))
	copy(r[:], randBytes(t))
	return store.Token{
		Access: a, Refresh: &r, ClientID: clientID, ServiceID: "svc", AuthenticatedUserID: "user",
		Scope: "read", IssuedAt: issued, ExpiresIn: expiresIn, FamilyID: fmt.Sprintf("fam-%x", a[:4]),
		RefreshExpiresAt: issued.Add(time.Hour),
	}
}

// clock is a settable clock for CacheOptions.Now.
type clock struct{ ns atomic.Int64 }

func newClock() *clock               { c := &clock{}; c.ns.Store(time.Now().UnixNano()); return c }
func (c *clock) Now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *clock) Add(d time.Duration) { c.ns.Add(int64(d)) }

// flakyFeed is a store whose change feed can be made to fail, as when the
// database is unreachable.
type flakyFeed struct {
	store.Store
	fail atomic.Bool
}

func (f *flakyFeed) Changes(ctx context.Context, after int64) ([]store.Change, int64, error) {
	if f.fail.Load() {
		return nil, 0, errors.New("database unreachable")
	}
	return f.Store.Changes(ctx, after)
}

// backends gives, for one test, a way to open several handles ("processes")
// on one database of each kind.
func backends(t *testing.T) map[string]func() store.Store {
	sqlitePath := "sqlite:" + filepath.Join(t.TempDir(), "shared.db")
	pgURL := pg.NewDatabase(t)
	open := func(u string) func() store.Store {
		return func() store.Store {
			s, err := store.Open(t.Context(), u)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
	}
	return map[string]func() store.Store{"sqlite": open(sqlitePath), "postgres": open(pgURL)}
}

// eventually polls cond for up to 5s (many SyncIntervals).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCacheHonoursOtherProcesses(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			cli := open() // the admin CLI: no cache
			node := store.NewCached(open(), store.CacheOptions{SyncInterval: 50 * time.Millisecond})
			node.Start(t.Context())
			defer node.Close()
			if err := cli.CreateClient(t.Context(), store.Client{ID: "c", Consumer: "x", Type: store.Public}); err != nil {
				t.Fatal(err)
			}

			// A token issued elsewhere validates on first use: misses are
			// not cached.
			tok := newToken(t, "c", time.Now(), 3600)
			if _, err := node.TokenByAccess(t.Context(), tok.Access); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("unknown token: %v", err)
			}
			if err := cli.CreateToken(t.Context(), tok); err != nil {
				t.Fatal(err)
			}
			if _, err := node.TokenByAccess(t.Context(), tok.Access); err != nil {
				t.Fatalf("token issued by another process: %v", err)
			}
			q := node.StoreQueries()
			if _, err := node.TokenByAccess(t.Context(), tok.Access); err != nil || node.StoreQueries() != q {
				t.Fatalf("second lookup: %v, store queries %d -> %d; want a cache hit", err, q, node.StoreQueries())
			}

			// Revoked by the CLI: honoured within a few sync intervals.
			if _, err := cli.Revoke(t.Context(), store.Revocation{Access: &tok.Access}); err != nil {
				t.Fatal(err)
			}
			eventually(t, "CLI revocation of one token honoured", func() bool {
				got, err := node.TokenByAccess(t.Context(), tok.Access)
				return err == nil && got.Revoked
			})

			// Revocation of every token of a user (a "flush" entry).
			tok2 := newToken(t, "c", time.Now(), 3600)
			if err := cli.CreateToken(t.Context(), tok2); err != nil {
				t.Fatal(err)
			}
			node.TokenByAccess(t.Context(), tok2.Access)
			if _, err := cli.Revoke(t.Context(), store.Revocation{UserID: "user"}); err != nil {
				t.Fatal(err)
			}
			eventually(t, "CLI revocation of a user honoured", func() bool {
				got, err := node.TokenByAccess(t.Context(), tok2.Access)
				return err == nil && got.Revoked
			})

			// Client deleted by the CLI: the cached client goes too.
			if _, err := node.Client(t.Context(), "c"); err != nil {
				t.Fatal(err)
			}
			if err := cli.DeleteClient(t.Context(), "c"); err != nil {
				t.Fatal(err)
			}
			eventually(t, "CLI client deletion honoured", func() bool {
				_, err := node.Client(t.Context(), "c")
				return errors.Is(err, store.ErrNotFound)
			})
		})
	}
}

func TestCacheOwnWritesTakeEffectAtOnce(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			// A sync interval far longer than the test: only the cache's
			// own eviction can make these pass.
			c := store.NewCached(open(), store.CacheOptions{SyncInterval: time.Hour})
			c.Start(t.Context())
			defer c.Close()
			if err := c.CreateClient(t.Context(), store.Client{ID: "c", Consumer: "x", Type: store.Public}); err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				name  string
				write func(tok store.Token) error
			}{
				{"rotate", func(tok store.Token) error {
					return c.RotateRefresh(t.Context(), *tok.Refresh, newToken(t, "c", time.Now(), 60))
				}},
				{"reissue", func(tok store.Token) error {
					var d store.Digest
					copy(d[:], randBytes(t))
					return c.ReissueAccess(t.Context(), *tok.Refresh, d, time.Now(), 60, time.Time{})
				}},
				{"revoke-family", func(tok store.Token) error {
					_, err := c.Revoke(t.Context(), store.Revocation{FamilyID: tok.FamilyID})
					return err
				}},
				{"revoke-user", func(tok store.Token) error {
					_, err := c.Revoke(t.Context(), store.Revocation{UserID: "user"})
					return err
				}},
			} {
				tok := newToken(t, "c", time.Now(), 3600)
				if err := c.CreateToken(t.Context(), tok); err != nil {
					t.Fatal(err)
				}
				if got, err := c.TokenByAccess(t.Context(), tok.Access); err != nil || got.Revoked {
					t.Fatalf("%s: fresh token: %v revoked=%v", tc.name, err, got.Revoked)
				}
				if err := tc.write(tok); err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				got, err := c.TokenByAccess(t.Context(), tok.Access)
				if err == nil && !got.Revoked {
					t.Errorf("%s: old access token still valid through the cache", tc.name)
				}
			}
		})
	}
}

func TestCacheEntryNeverOutlivesToken(t *testing.T) {
	clk := newClock()
	s := openSQLite(t)
	c := store.NewCached(s, store.CacheOptions{Now: clk.Now, StaleIfError: time.Hour})
	if err := c.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateClient(t.Context(), store.Client{ID: "c", Consumer: "x", Type: store.Public}); err != nil {
		t.Fatal(err)
	}
	tok := newToken(t, "c", clk.Now(), 10)
	if err := s.CreateToken(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	c.TokenByAccess(t.Context(), tok.Access)
	q := c.StoreQueries()
	c.TokenByAccess(t.Context(), tok.Access)
	if c.StoreQueries() != q {
		t.Fatal("live token not served from the cache")
	}
	clk.Add(11 * time.Second)
	got, err := c.TokenByAccess(t.Context(), tok.Access)
	if c.StoreQueries() != q+1 {
		t.Errorf("expired token served from the cache")
	}
	if err != nil || !got.AccessExpired(clk.Now()) {
		t.Errorf("expired token: %v, expired=%v", err, got.AccessExpired(clk.Now()))
	}
	c.TokenByAccess(t.Context(), tok.Access)
	if c.StoreQueries() != q+2 {
		t.Errorf("expired token cached")
	}

	// Revoked tokens are not cached either.
	rev := newToken(t, "c", clk.Now(), 3600)
	rev.Revoked = true
	if err := s.CreateToken(t.Context(), rev); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		c.TokenByAccess(t.Context(), rev.Access)
	}
	if c.StoreQueries() != q+4 {
		t.Errorf("revoked token cached: %d store queries, want %d", c.StoreQueries(), q+4)
	}
}

func TestCacheMaxTTL(t *testing.T) {
	s := openSQLite(t)
	c := store.NewCached(s, store.CacheOptions{MaxTTL: 50 * time.Millisecond, StaleIfError: time.Hour})
	if err := c.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateClient(t.Context(), store.Client{ID: "c", Consumer: "x", Type: store.Public}); err != nil {
		t.Fatal(err)
	}
	tok := newToken(t, "c", time.Now(), 0) // never expires
	if err := s.CreateToken(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	c.TokenByAccess(t.Context(), tok.Access)
	c.TokenByAccess(t.Context(), tok.Access)
	if c.StoreQueries() != 1 {
		t.Fatalf("%d store queries, want 1 (second lookup cached)", c.StoreQueries())
	}
	time.Sleep(100 * time.Millisecond)
	c.TokenByAccess(t.Context(), tok.Access)
	if c.StoreQueries() != 2 {
		t.Errorf("entry outlived MaxTTL")
	}
}

func TestCacheStaleIfError(t *testing.T) {
	clk := newClock()
	s := &flakyFeed{Store: openSQLite(t)}
	c := store.NewCached(s, store.CacheOptions{Now: clk.Now, StaleIfError: 60 * time.Second})
	if err := s.CreateClient(t.Context(), store.Client{ID: "c", Consumer: "x", Type: store.Public}); err != nil {
		t.Fatal(err)
	}
	tok := newToken(t, "c", clk.Now(), 3600)
	if err := s.CreateToken(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	lookup := func() int64 {
		t.Helper()
		before := c.StoreQueries()
		if _, err := c.TokenByAccess(t.Context(), tok.Access); err != nil {
			t.Fatal(err)
		}
		return c.StoreQueries() - before
	}

	// Never synced: nothing is cached.
	if lookup()+lookup() != 2 {
		t.Fatal("cache used before the first sync")
	}
	if err := c.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	lookup()
	if lookup() != 0 {
		t.Fatal("not cached after a sync")
	}
	s.fail.Store(true)
	clk.Add(30 * time.Second)
	if err := c.Sync(t.Context()); err == nil {
		t.Fatal("Sync succeeded on a failing feed")
	}
	if lookup() != 0 {
		t.Error("within StaleIfError, the cached token should still validate")
	}
	clk.Add(31 * time.Second)
	if first, second := lookup(), lookup(); first != 1 || second != 1 {
		t.Error("past StaleIfError, lookups should go to the store and not be cached")
	}
	s.fail.Store(false)
	if err := c.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	lookup()
	if lookup() != 0 {
		t.Error("not caching again after the feed recovered")
	}
}

func TestPurgerDeletesInBatches(t *testing.T) {
	s := openSQLite(t)
	if err := s.CreateClient(t.Context(), store.Client{ID: "c", Consumer: "x", Type: store.Public}); err != nil {
		t.Fatal(err)
	}
	var dead []store.Token
	for range 25 {
		tok := newToken(t, "c", time.Now().Add(-3*time.Hour), 60)
		if err := s.CreateToken(t.Context(), tok); err != nil {
			t.Fatal(err)
		}
		dead = append(dead, tok)
	}
	live := newToken(t, "c", time.Now(), 3600)
	if err := s.CreateToken(t.Context(), live); err != nil {
		t.Fatal(err)
	}
	c := store.NewCached(s, store.CacheOptions{})
	// One round (every hour) must delete all 25 in batches of 10.
	c.StartPurge(t.Context(), time.Hour, 10)
	defer c.Close()
	eventually(t, "dead tokens purged", func() bool {
		for _, tok := range dead {
			if _, err := s.TokenByAccess(t.Context(), tok.Access); !errors.Is(err, store.ErrNotFound) {
				return false
			}
		}
		return true
	})
	if _, err := s.TokenByAccess(t.Context(), live.Access); err != nil {
		t.Errorf("live token purged: %v", err)
	}
}

// fixedStore answers every TokenByAccess with one token, to fill a cache
// without a database.
type fixedStore struct {
	store.Store
	mu  sync.Mutex
	tok store.Token
}

func (f *fixedStore) Close() error { return nil }

func (f *fixedStore) Changes(context.Context, int64) ([]store.Change, int64, error) {
	return nil, 0, nil
}

func (f *fixedStore) TokenByAccess(_ context.Context, d store.Digest) (store.Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.tok
	t.Access = d
	r := *t.Refresh
	r[0] ^= d[0]
	r[1] ^= d[1]
	t.Refresh = &r
	t.FamilyID = hex.EncodeToString(d[:16]) // as the engine makes them
	t.AuthenticatedUserID = fmt.Sprintf("user-%d", int(d[2])<<8|int(d[3]))
	return t, nil
}

// TestCacheMemoryPerToken: a cached token costs at most 256 heap bytes, so
// a million cached tokens fit in 256 MB.
func TestCacheMemoryPerToken(t *testing.T) {
	const n = 1_000_000
	f := &fixedStore{tok: newToken(t, "client-with-a-typical-uuid-0000000000", time.Now(), 3600)}
	f.tok.Scope = "read write profile"
	// A bound with room to spare: shards fill unevenly, and this test
	// measures entries, not evictions.
	c := store.NewCached(f, store.CacheOptions{StaleIfError: time.Hour, MaxEntries: n + n/8})
	defer c.Close()
	if err := c.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	digests := make([]store.Digest, n)
	for i := range digests {
		copy(digests[i][:], randBytes(t))
	}
	var before, after runtime.MemStats
	// Twice: what earlier tests left behind is freed, finalizers and all.
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, d := range digests {
		if _, err := c.TokenByAccess(t.Context(), d); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	q := c.StoreQueries()
	c.TokenByAccess(t.Context(), digests[0])
	if c.StoreQueries() != q {
		t.Fatal("tokens not cached")
	}
	per := (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / n
	t.Logf("%.0f heap bytes per cached token", per)
	if per > 256 {
		t.Errorf("%.0f heap bytes per cached token, want <= 256", per)
	}
	runtime.KeepAlive(c)
	runtime.KeepAlive(digests)
}
