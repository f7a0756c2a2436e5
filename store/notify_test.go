package store_test

import (
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/store"
)

// TestNotificationsEvictAtOnce: on PostgreSQL a revocation, a rotation or a
// client deletion committed by another process (here the admin CLI's
// uncached store) is evicted from a node's cache within a second, although
// the node polls the change feed only once a minute.
func TestNotificationsEvictAtOnce(t *testing.T) {
	url := pg.NewDatabase(t)
	cli, err := store.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	s, err := store.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	node := store.NewCached(s, store.CacheOptions{SyncInterval: time.Minute, StaleIfError: 2 * time.Minute, Log: slog.New(slog.NewTextHandler(t.Output(), nil))})
	node.Start(t.Context())
	defer node.Close()
	if err := cli.CreateClient(t.Context(), store.Client{ID: "c", Consumer: "x", Type: store.Public}); err != nil {
		t.Fatal(err)
	}
	// Once the listener has heard its probe, every notification of an
	// earlier commit has been delivered and the sync it made on
	// connecting is done: nothing stale evicts (and so keeps from being
	// cached) the tokens below.
	eventually(t, "listener up", node.ListenerUp)
	cachedToken := func() store.Token {
		t.Helper()
		tok := newToken(t, "c", time.Now(), 3600)
		if err := cli.CreateToken(t.Context(), tok); err != nil {
			t.Fatal(err)
		}
		if _, err := node.TokenByAccess(t.Context(), tok.Access); err != nil {
			t.Fatal(err)
		}
		if _, ok := node.CachedAccess(tok.Access); !ok {
			t.Fatal("the token is not cached")
		}
		return tok
	}
	gone := func(what string, tok store.Token, within time.Duration) {
		t.Helper()
		start := time.Now()
		for {
			if _, ok := node.CachedAccess(tok.Access); !ok {
				t.Logf("%s: evicted after %v", what, time.Since(start).Round(time.Millisecond))
				return
			}
			if time.Since(start) > within {
				t.Fatalf("%s: still cached after %v (the poll runs once a minute)", what, within)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	tok := cachedToken()
	if _, err := cli.Revoke(t.Context(), store.Revocation{Access: &tok.Access}); err != nil {
		t.Fatal(err)
	}
	gone("revocation of one token", tok, time.Second)

	tok = cachedToken()
	if err := cli.RotateRefresh(t.Context(), *tok.Refresh, newToken(t, "c", time.Now(), 3600)); err != nil {
		t.Fatal(err)
	}
	gone("rotation", tok, time.Second)

	tok = cachedToken()
	if _, err := cli.Revoke(t.Context(), store.Revocation{UserID: "user"}); err != nil {
		t.Fatal(err)
	}
	gone("revocation of a user (flush)", tok, time.Second)

	tok = cachedToken()
	if _, err := node.Client(t.Context(), "c"); err != nil {
		t.Fatal(err)
	}
	if _, ok := node.CachedClient("c"); !ok {
		t.Fatal("the client is not cached")
	}
	if err := cli.DeleteClient(t.Context(), "c"); err != nil {
		t.Fatal(err)
	}
	gone("client deletion", tok, time.Second)
	if _, ok := node.CachedClient("c"); ok {
		t.Error("the deleted client is still cached")
	}
	if _, err := node.Client(t.Context(), "c"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted client: %v, want ErrNotFound", err)
	}
}

// TestNotificationListenerFallsBack: a LISTEN session that receives
// nothing (here: a URL whose database never sees the store's writes, as
// with pgbouncer in transaction pooling) is reported once, and the cache
// keeps working on the change feed alone.
func TestNotificationListenerFallsBack(t *testing.T) {
	url := pg.NewDatabase(t)
	elsewhere := pg.NewDatabase(t) // its NOTIFY channel never hears ours
	s, err := store.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu  sync.Mutex
		buf strings.Builder
	)
	log := slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, nil))
	node := store.NewCached(s, store.CacheOptions{SyncInterval: 100 * time.Millisecond, ListenURL: elsewhere, Log: log})
	node.Start(t.Context())
	defer node.Close()
	eventually10 := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		got := buf.String()
		mu.Unlock()
		if strings.Contains(got, "receives no notifications") {
			if !strings.Contains(got, "-listen-database-url") {
				t.Errorf("the log does not say what to do: %s", got)
			}
			break
		}
		if time.Now().After(eventually10) {
			t.Fatalf("no fall-back reported; log: %q", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The poll still evicts.
	if err := node.CreateClient(t.Context(), store.Client{ID: "c", Consumer: "x", Type: store.Public}); err != nil {
		t.Fatal(err)
	}
	other, err := store.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tok := newToken(t, "c", time.Now(), 3600)
	if err := node.CreateToken(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	if _, ok := node.CachedAccess(tok.Access); !ok {
		t.Fatal("not cached")
	}
	if _, err := other.Revoke(t.Context(), store.Revocation{Access: &tok.Access}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "revocation honoured by the poll", func() bool {
		_, ok := node.CachedAccess(tok.Access)
		return !ok
	})
}

// lockedWriter serialises writes to a shared buffer.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestListenerUp: the LISTEN session reports itself up once it hears its
// own probe (the change_listener_up gauge reads it).
func TestListenerUp(t *testing.T) {
	url := pg.NewDatabase(t)
	s, err := store.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	node := store.NewCached(s, store.CacheOptions{SyncInterval: time.Minute, StaleIfError: 2 * time.Minute, Log: slog.New(slog.NewTextHandler(t.Output(), nil))})
	node.Start(t.Context())
	defer node.Close()
	eventually(t, "listener up", node.ListenerUp)
}

// TestObservedStillListens: a store watched by metrics (every binary
// started with -metrics) still listens for change notifications.
func TestObservedStillListens(t *testing.T) {
	s, err := store.Open(t.Context(), pg.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	node := store.NewCached(store.Observed(s, nopMetrics{}), store.CacheOptions{SyncInterval: time.Minute, StaleIfError: 2 * time.Minute})
	node.Start(t.Context())
	defer node.Close()
	eventually(t, "listener up behind Observed", node.ListenerUp)
}

type nopMetrics struct{}

func (nopMetrics) CacheLookup(string, bool)                {}
func (nopMetrics) StoreCall(string, time.Duration, string) {}
