package main

import (
	"context"
	"errors"
	"log"
	"sync/atomic"
	"time"

	"github.com/oauth2-password/oauth2-password/plugin"
	"github.com/oauth2-password/oauth2-password/store"
)

// errStoreNotReady is what every store call returns until the store has
// been opened and migrated: the engine answers 503 rather than the process
// refusing to start, so Kong is not left respawning a plugin whose database
// is briefly down.
var errStoreNotReady = errors.New("store not ready")

// lazyStore opens the store in the background, retrying until it works.
type lazyStore struct {
	cur atomic.Pointer[store.Cached]
}

var (
	_ plugin.TokenStore  = (*lazyStore)(nil)
	_ plugin.MemoryStore = (*lazyStore)(nil) // the allocation-free validation path
)

func (l *lazyStore) open(ctx context.Context, url string, f kongFlags) {
	for attempt := 0; ; attempt++ {
		s, err := store.Open(ctx, url)
		if err == nil {
			o := f.cache
			o.Logf = log.Printf
			c := store.NewCached(s, o)
			c.Start(ctx)
			c.StartPurge(ctx, f.purgeEvery, f.purgeBatch)
			l.cur.Store(c)
			if attempt > 0 {
				log.Printf("oauth2-password: store ready")
			}
			return
		}
		log.Printf("oauth2-password: opening the store failed (retrying in 2s): %v", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
	}
}

func (l *lazyStore) close() {
	if c := l.cur.Load(); c != nil {
		_ = c.Close()
	}
}

func (l *lazyStore) get() (*store.Cached, error) {
	if c := l.cur.Load(); c != nil {
		return c, nil
	}
	return nil, errStoreNotReady
}

func (l *lazyStore) Client(ctx context.Context, id string) (store.Client, error) {
	c, err := l.get()
	if err != nil {
		return store.Client{}, err
	}
	return c.Client(ctx, id)
}

func (l *lazyStore) CreateToken(ctx context.Context, t store.Token) error {
	c, err := l.get()
	if err != nil {
		return err
	}
	return c.CreateToken(ctx, t)
}

func (l *lazyStore) TokenByAccess(ctx context.Context, d store.Digest) (store.Token, error) {
	c, err := l.get()
	if err != nil {
		return store.Token{}, err
	}
	return c.TokenByAccess(ctx, d)
}

func (l *lazyStore) TokenByRefresh(ctx context.Context, d store.Digest) (store.Token, error) {
	c, err := l.get()
	if err != nil {
		return store.Token{}, err
	}
	return c.TokenByRefresh(ctx, d)
}

func (l *lazyStore) RotateRefresh(ctx context.Context, old store.Digest, next store.Token) error {
	c, err := l.get()
	if err != nil {
		return err
	}
	return c.RotateRefresh(ctx, old, next)
}

func (l *lazyStore) ReissueAccess(ctx context.Context, refresh, access store.Digest, issuedAt time.Time, expiresIn int64, refreshExpiresAt time.Time) error {
	c, err := l.get()
	if err != nil {
		return err
	}
	return c.ReissueAccess(ctx, refresh, access, issuedAt, expiresIn, refreshExpiresAt)
}

func (l *lazyStore) Revoke(ctx context.Context, r store.Revocation) (int, error) {
	c, err := l.get()
	if err != nil {
		return 0, err
	}
	return c.Revoke(ctx, r)
}

func (l *lazyStore) CachedAccess(d store.Digest) (store.AccessToken, bool) {
	if c := l.cur.Load(); c != nil {
		return c.CachedAccess(d)
	}
	return store.AccessToken{}, false
}

func (l *lazyStore) CachedClient(id string) (store.Client, bool) {
	if c := l.cur.Load(); c != nil {
		return c.CachedClient(id)
	}
	return store.Client{}, false
}
