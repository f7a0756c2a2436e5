package plugin

import (
	"context"
	"errors"
	"time"

	"github.com/oauth2-password/oauth2-password/plugin/oauth"
)

// Store is what the engine needs of the client and token store
// (store.Cached in production): what each flow declares it uses, together.
// Errors other than oauth.ErrNotFound and oauth.ErrRefreshReused mean the
// store is unavailable and are answered 503.
type Store interface {
	clientStore
	validationStore
	passwordGrantStore
	refreshGrantStore
	revocationStore
}

// clientStore authenticates clients at every client endpoint.
type clientStore interface {
	Client(ctx context.Context, clientID string) (oauth.Client, error)
}

// validationStore serves bearer validation and introspection.
type validationStore interface {
	TokenByAccess(ctx context.Context, access oauth.Digest) (oauth.Token, error)
}

// passwordGrantStore serves the password grant.
type passwordGrantStore interface {
	CreateToken(ctx context.Context, t oauth.Token) error
}

// refreshGrantStore serves the refresh grant (and revocation by refresh
// token).
type refreshGrantStore interface {
	TokenByRefresh(ctx context.Context, refresh oauth.Digest) (oauth.Token, error)
	RotateRefresh(ctx context.Context, old oauth.Digest, next oauth.Token) error
	ReissueAccess(ctx context.Context, refresh oauth.Digest, access oauth.Digest, issuedAt time.Time, expiresIn int64, refreshExpiresAt time.Time) error
}

// revocationStore serves refresh-token replay detection and RFC 7009.
type revocationStore interface {
	Revoke(ctx context.Context, r oauth.Revocation) (int, error)
}

// CachedLookup is an optional Store extension, implemented by
// store.Cached: lookups answered from its cache alone, with no context, no
// store query and no allocation. Validation asks it first and the Store
// only on a miss.
type CachedLookup interface {
	CachedAccess(access oauth.Digest) (oauth.AccessToken, bool)
	CachedClient(clientID string) (oauth.Client, bool)
}

// errNoStore is what noStore answers: the engine has no store.
var errNoStore = errors.New("no store")

// noStore is the store of an engine that has none: every call fails, and
// is answered 503.
type noStore struct{}

func (noStore) Client(context.Context, string) (oauth.Client, error) {
	return oauth.Client{}, errNoStore
}
func (noStore) TokenByAccess(context.Context, oauth.Digest) (oauth.Token, error) {
	return oauth.Token{}, errNoStore
}
func (noStore) CreateToken(context.Context, oauth.Token) error { return errNoStore }
func (noStore) TokenByRefresh(context.Context, oauth.Digest) (oauth.Token, error) {
	return oauth.Token{}, errNoStore
}
func (noStore) RotateRefresh(context.Context, oauth.Digest, oauth.Token) error { return errNoStore }
func (noStore) ReissueAccess(context.Context, oauth.Digest, oauth.Digest, time.Time, int64, time.Time) error {
	return errNoStore
}
func (noStore) Revoke(context.Context, oauth.Revocation) (int, error) { return 0, errNoStore }
