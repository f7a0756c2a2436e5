// Package store keeps OAuth2 clients and tokens: a PostgreSQL store for
// clusters, an embedded SQLite file for single nodes and DB-less Kong, and a
// cache in front of either.
//
// No usable secret is ever stored: access tokens, refresh tokens and
// high-entropy client secrets are kept as SHA-256 digests (see package oauth).
// Every token we hash is a value with at least 128 random bits, so a fast
// hash is enough: there is nothing to brute-force (RFC 6819 §5.1.4.1.3). A
// short client secret is kept as a slow password hash instead (SecretHash;
// package clientsecret decides which and checks them).
package store

import (
	"context"
	"time"

	"github.com/oauth2-password/oauth2-password/plugin/oauth"
)

// The values the stores keep are the engine's (package oauth): these
// aliases keep the store's API readable (store.Token) without a second
// definition.
type (
	Digest      = oauth.Digest
	Client      = oauth.Client
	Token       = oauth.Token
	AccessToken = oauth.AccessToken
	Revocation  = oauth.Revocation
)

// Errors returned by every Store implementation (see package oauth).
var (
	ErrNotFound      = oauth.ErrNotFound
	ErrConflict      = oauth.ErrConflict
	ErrRefreshReused = oauth.ErrRefreshReused
	ErrClientGone    = oauth.ErrClientGone
)

// Client types.
const (
	Confidential = oauth.Confidential
	Public       = oauth.Public
)

// DigestOf hashes a secret for storage or lookup.
func DigestOf(secret string) Digest { return oauth.DigestOf(secret) }

// Change is one entry of the change feed that keeps caches of other
// processes honest. Access names one token whose cached copy must go; a nil
// Access means "drop everything cached" (bulk revocations, client changes).
type Change struct {
	Seq    int64
	Access *Digest
}

// Store is the full API of a client and token store. Both implementations pass
// the conformance suite in store/storetest.
type Store interface {
	// Migrate creates or upgrades the schema. Safe to run concurrently.
	Migrate(ctx context.Context) error

	CreateClient(ctx context.Context, c Client) error // ErrConflict
	Client(ctx context.Context, clientID string) (Client, error)
	Clients(ctx context.Context, consumer string) ([]Client, error) // "" = all
	// DeleteClient deletes the client and every token issued to it.
	DeleteClient(ctx context.Context, clientID string) error // ErrNotFound
	// SetIntrospection grants (allow) or withdraws the client's right to
	// introspect the tokens of service svc (Client.IntrospectServices).
	// Granting twice or withdrawing what was not granted changes nothing.
	SetIntrospection(ctx context.Context, clientID, svc string, allow bool) error // ErrNotFound

	// TokenCheckKey returns the key of the check value inside issued
	// tokens (plugin/tokengen.go), the same on every node: the first call
	// on a database makes it. It is not a credential.
	TokenCheckKey(ctx context.Context) ([]byte, error)

	// CreateToken stores a token; it is committed when CreateToken returns.
	// ErrClientGone if its client does not exist.
	CreateToken(ctx context.Context, t Token) error
	TokenByAccess(ctx context.Context, access Digest) (Token, error)
	TokenByRefresh(ctx context.Context, refresh Digest) (Token, error)
	// RotateRefresh atomically revokes the token holding old and stores
	// next. If the old token is already revoked it stores nothing and
	// returns ErrRefreshReused; of two concurrent calls with one old token
	// exactly one succeeds. ErrClientGone if next's client does not
	// exist.
	RotateRefresh(ctx context.Context, old Digest, next Token) error
	// ReissueAccess gives the token holding refresh a new access token
	// (reuse_refresh_token): the old access token stops working at once.
	ReissueAccess(ctx context.Context, refresh Digest, access Digest, issuedAt time.Time, expiresIn int64, refreshExpiresAt time.Time) error
	// Revoke marks the selected tokens revoked and returns how many were.
	Revoke(ctx context.Context, r Revocation) (int, error)
	// PurgeExpired deletes at most limit rows that can no longer be used
	// (access and refresh expired) and returns how many it deleted.
	PurgeExpired(ctx context.Context, now time.Time, limit int) (int, error)

	// Changes returns the change-feed entries after seq, oldest first, and
	// the newest seq seen (seq itself when there are none). Changes(ctx, -1)
	// returns no entries and the current newest seq.
	Changes(ctx context.Context, after int64) ([]Change, int64, error)

	Close() error
}
