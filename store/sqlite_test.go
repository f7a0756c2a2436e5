package store_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/store"
	"github.com/oauth2-password/oauth2-password/store/storetest"
)

func openSQLite(t *testing.T) store.Store {
	t.Helper()
	s, err := store.Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "oauth2.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// openCached is a started Cached in front of a fresh store.
func openCached(open func(t *testing.T) store.Store) func(t *testing.T) store.Store {
	return func(t *testing.T) store.Store {
		c := store.NewCached(open(t), store.CacheOptions{SyncInterval: 20 * time.Millisecond})
		c.Start(t.Context())
		t.Cleanup(func() { c.Close() })
		return c
	}
}

// TestConformance runs the store conformance suite against every backend,
// bare and behind the cache.
func TestConformance(t *testing.T) {
	for _, b := range []struct {
		name string
		open func(t *testing.T) store.Store
	}{
		{"postgres", openPostgres},
		{"sqlite", openSQLite},
		{"cached-postgres", openCached(openPostgres)},
		{"cached-sqlite", openCached(openSQLite)},
	} {
		t.Run(b.name, func(t *testing.T) { storetest.Run(t, b.open) })
	}
}

func TestOpenURLs(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		url, file string
	}{
		{"sqlite:" + dir + "/a.db", "a.db"},
		{"sqlite://" + dir + "/b.db", "b.db"},
		{"file:" + dir + "/c.db", "c.db"},
	} {
		s, err := store.Open(context.Background(), tc.url)
		if err != nil {
			t.Errorf("Open(%s): %v", tc.url, err)
			continue
		}
		s.Close()
		if _, err := filepath.Glob(filepath.Join(dir, tc.file)); err != nil {
			t.Errorf("Open(%s) did not create %s", tc.url, tc.file)
		}
		if m, _ := filepath.Glob(filepath.Join(dir, tc.file)); len(m) != 1 {
			t.Errorf("Open(%s) did not create %s", tc.url, tc.file)
		}
	}
	for _, bad := range []string{"mysql://root:topsecret@db/x", "redis:topsecret", "/var/lib/x.db", "sqlite:"} {
		_, err := store.Open(context.Background(), bad)
		if err == nil {
			t.Errorf("Open(%q) succeeded, want an error", bad)
			continue
		}
		if strings.Contains(err.Error(), "topsecret") {
			t.Errorf("Open(%q) error reveals the password: %v", bad, err)
		}
	}
	if got := store.DefaultPathFor("/usr/local/kong/"); got != store.DefaultPath {
		t.Errorf("DefaultPathFor(default prefix) = %q, want %q", got, store.DefaultPath)
	}
}

// TestSQLiteTwoProcesses: the CLI and the plugin use one file at once;
// concurrent writers through separate handles wait for each other instead
// of failing with SQLITE_BUSY.
func TestSQLiteTwoHandlesWrite(t *testing.T) {
	path := "sqlite:" + filepath.Join(t.TempDir(), "shared.db")
	a, err := store.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := store.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := a.CreateClient(t.Context(), store.Client{ID: "c", Consumer: "x", Type: store.Public}); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 200)
	for _, s := range []store.Store{a, b} {
		for range 4 {
			go func() {
				for range 25 {
					var d, r store.Digest
					copy(d[:], randBytes(t))
					copy(r[:], randBytes(t))
					tok := store.Token{Access: d, Refresh: &r, ClientID: "c", FamilyID: "f", IssuedAt: time.Now(), ExpiresIn: 60}
					if err := s.CreateToken(t.Context(), tok); err != nil {
						errs <- err
						continue
					}
					_, err := s.Revoke(t.Context(), store.Revocation{Refresh: &r})
					errs <- err
				}
			}()
		}
	}
	for range 200 {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent write: %v", err)
		}
	}
}
