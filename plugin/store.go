package plugin

import (
	"context"
	"time"

	"github.com/oauth2-password/oauth2-password/store"
)

// TokenStore is what the engine needs from the store (store.Cached in
// production). Errors other than store.ErrNotFound and
// store.ErrRefreshReused mean the store is unavailable.
type TokenStore interface {
	Client(ctx context.Context, clientID string) (store.Client, error)
	CreateToken(ctx context.Context, t store.Token) error
	TokenByAccess(ctx context.Context, access store.Digest) (store.Token, error)
	TokenByRefresh(ctx context.Context, refresh store.Digest) (store.Token, error)
	RotateRefresh(ctx context.Context, old store.Digest, next store.Token) error
	ReissueAccess(ctx context.Context, refresh store.Digest, access store.Digest, issuedAt time.Time, expiresIn int64, refreshExpiresAt time.Time) error
	Revoke(ctx context.Context, r store.Revocation) (int, error)
}

// MemoryStore is an optional TokenStore extension, implemented by
// store.Cached: lookups answered from its cache alone, with no context, no
// store query and no allocation.
// Validation asks it first and the TokenStore only on a miss.
type MemoryStore interface {
	CachedAccess(access store.Digest) (store.AccessToken, bool)
	CachedClient(clientID string) (store.Client, bool)
}
