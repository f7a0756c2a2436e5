// Package store keeps OAuth2 clients and tokens: a PostgreSQL store for
// clusters, an embedded SQLite file for single nodes and DB-less Kong, and a
// cache in front of either.
//
// No usable secret is ever stored: client secrets, access tokens and refresh
// tokens are kept as SHA-256 digests (see Digest). Every secret we hash is a
// value with at least 128 random bits, so a fast hash is enough: there is
// nothing to brute-force (RFC 6819 §5.1.4.1.3).
package store

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"
)

// Errors returned by every Store implementation.
var (
	// ErrNotFound: no such client or token (or the token was purged).
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: a client with that client_id already exists.
	ErrConflict = errors.New("store: already exists")
	// ErrRefreshReused: the refresh token was already rotated or revoked.
	// RotateRefresh returns it; the caller revokes the family
	// (RFC 6819 §5.2.2.3).
	ErrRefreshReused = errors.New("store: refresh token already used")
	// ErrClientGone: the token names a client that no longer exists. The
	// caller looked the client up, and it was deleted (perhaps on another
	// node) before the token was stored: the client is gone, the store is
	// not down. CreateToken and RotateRefresh return it; it wraps
	// ErrNotFound.
	ErrClientGone = fmt.Errorf("%w: the client was deleted", ErrNotFound)
)

// Digest is the SHA-256 of a secret (token or client secret).
type Digest [32]byte

// DigestOf hashes a secret for storage or lookup.
func DigestOf(secret string) Digest { return sha256.Sum256([]byte(secret)) }

// Equal compares two digests in constant time.
func (d Digest) Equal(o Digest) bool { return subtle.ConstantTimeCompare(d[:], o[:]) == 1 }

// Client types, as in Kong's oauth2_credentials.client_type.
const (
	Confidential = "confidential"
	Public       = "public"
)

// Client is a registered OAuth2 client (Kong: an oauth2 credential).
type Client struct {
	ID           string // client_id
	SecretDigest Digest // zero for public clients
	Name         string
	Consumer     string // Kong consumer id or username
	Type         string // Confidential or Public
	RedirectURIs []string
	CreatedAt    time.Time
}

// Token is one issued access token and its (optional) refresh token.
type Token struct {
	Access              Digest
	Refresh             *Digest // nil when no refresh token was issued
	ClientID            string
	ServiceID           string // "" for a global token (global_credentials)
	AuthenticatedUserID string
	Scope               string // space-separated
	IssuedAt            time.Time
	ExpiresIn           int64     // seconds; 0 = never expires
	RefreshExpiresAt    time.Time // zero = never
	FamilyID            string    // shared by every token descended from one password grant
	Revoked             bool
}

// AccessExpired reports whether the access token is past its lifetime, in
// whole seconds like Kong: valid while now - issued_at <= expires_in.
func (t *Token) AccessExpired(now time.Time) bool {
	return t.ExpiresIn > 0 && now.Unix()-t.IssuedAt.Unix() > t.ExpiresIn
}

// RefreshExpired reports whether the refresh token is past its lifetime.
func (t *Token) RefreshExpired(now time.Time) bool {
	return !t.RefreshExpiresAt.IsZero() && now.After(t.RefreshExpiresAt)
}

// Revocation selects the tokens to revoke. Exactly one field is set.
type Revocation struct {
	Access   *Digest
	Refresh  *Digest // revokes the whole family of that refresh token
	ClientID string
	UserID   string // authenticated_userid
	FamilyID string
}

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
