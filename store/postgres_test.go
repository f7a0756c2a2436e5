package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/store"
	"github.com/oauth2-password/oauth2-password/store/storetest"
)

// openPostgres opens a migrated store on a new database of its own.
func openPostgres(t *testing.T) store.Store {
	t.Helper()
	s, err := store.Open(t.Context(), pg.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConcurrentMigrate(t *testing.T) {
	t.Run("postgres", func(t *testing.T) {
		url := pg.NewDatabase(t)
		storetest.ConcurrentMigrate(t, func(t *testing.T) store.Store {
			s, err := store.OpenPostgres(t.Context(), url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		})
	})
	t.Run("sqlite", func(t *testing.T) {
		path := t.TempDir() + "/db"
		storetest.ConcurrentMigrate(t, func(t *testing.T) store.Store {
			s, err := store.OpenSQLite(t.Context(), path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		})
	})
}

func TestOpenPostgresErrorHidesPassword(t *testing.T) {
	for _, tc := range []struct {
		name, url, server string
	}{
		// Nothing listens on port 1: the connection fails, and the message
		// names the server without the password.
		{"closed port", "postgres://admin:hunter2secret@127.0.0.1:1/db?sslmode=disable&connect_timeout=2", "127.0.0.1:1"},
		// URLs lib/pq cannot parse: its error quotes the whole URL. The
		// message reaches Kong's error log (retried every 2 s) and the
		// CLI's stderr.
		{"bad port", "postgres://admin:hunter2secret@127.0.0.1:x5432/db", ""},
		{"bad host", "postgres://admin:hunter2secret@[::1/db", ""},
		{"slash in the password", "postgres://admin:hunter2/secret@127.0.0.1/db", ""},
		{"password in the query", "postgres://admin@127.0.0.1:x/db?password=hunter2secret", ""},
		// Not a PostgreSQL URL as lib/pq spells one, given where only one
		// can be (import-kong's --kong-database-url): lib/pq would parse it
		// as key=value pairs and quote it.
		{"upper-case scheme", "Postgres://admin:hunter2secret@127.0.0.1/db", `"Postgres://admin:xxxxx@127.0.0.1/db": want postgres://`},
		{"leading space", " postgres://admin:hunter2secret@127.0.0.1/db", "postgres://"},
		{"misspelt scheme", "postgress://admin:hunter2secret@127.0.0.1/db", "postgres://"},
		// A slash missing or one too many: the user part lands in the
		// path, where no parser redacts it.
		{"one slash", "postgres:/admin:hunter2secret@127.0.0.1:1/db", `"postgres:…"`},
		{"three slashes", "postgres:///admin:hunter2secret@127.0.0.1:1/db?connect_timeout=2", `"postgres:…"`},
		// Query pairs Go's parser drops (a bad escape, a ';') keep the
		// password out of url.Values, not out of the URL.
		{"password with a bad escape", "postgres://admin@127.0.0.1:1/db?password=hunter2secret%zz&sslmode=disable&connect_timeout=2", "127.0.0.1:1"},
		{"password after a semicolon", "postgres://admin@127.0.0.1:1/db?sslmode=disable;password=hunter2;secret@&connect_timeout=2", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := store.OpenPostgres(context.Background(), tc.url)
			if err == nil {
				t.Fatal("Open succeeded")
			}
			for _, secret := range []string{"hunter2secret", "hunter2", "secret@"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error reveals the password: %v", err)
				}
			}
			if !strings.Contains(err.Error(), tc.server) {
				t.Errorf("error does not say which server: %v", err)
			}
		})
	}
}

// TestPostgresRestart: while PostgreSQL is down calls fail with an error
// (not ErrNotFound, so callers answer 5xx rather than "invalid token"), and
// the same store works again once it is back.
func TestPostgresRestart(t *testing.T) {
	s := openPostgres(t)
	if err := s.CreateClient(t.Context(), store.Client{ID: "c", Consumer: "x", Type: store.Public}); err != nil {
		t.Fatal(err)
	}
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	defer func() {
		if !restarted {
			pg.Start()
		}
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, err := s.Client(ctx, "c")
	if err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("Client with the server down = %v, want a connection error", err)
	}
	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	if _, err := s.Client(t.Context(), "c"); err != nil {
		t.Errorf("Client after restart: %v", err)
	}
}
