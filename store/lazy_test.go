package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/store"
)

// TestLazyWaitsForTheStore: a call made while the store is still opening
// (as right after Kong respawns the plugin) waits for it instead of
// failing; a store that never opens fails the call at its deadline.
func TestLazyWaitsForTheStore(t *testing.T) {
	opts := store.LazyOptions{PurgeEvery: time.Minute, PurgeBatch: 10}
	l := store.OpenLazy(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "lazy.db"), opts)
	defer l.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := l.Client(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("first call while the store opens: %v, want the store's own not found", err)
	}

	dead := store.OpenLazy(t.Context(), "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=1", opts)
	defer dead.Close()
	start := time.Now() // before the deadline is set, so that took ≥ 200ms
	ctx, cancel = context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err := dead.Client(ctx, "nobody")
	if err == nil || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a store that never opens answered %v", err)
	}
	if took := time.Since(start); took < 200*time.Millisecond || took > 5*time.Second {
		t.Errorf("the call ended after %v, want at its 200ms deadline", took)
	}
}
