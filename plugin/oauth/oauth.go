// Package oauth holds the values the OAuth2 engine (package plugin) and the
// stores (package store) share: clients, tokens, their digests and
// revocations. It imports no database driver, so the engine links none.
//
// No usable secret is ever kept: access tokens, refresh tokens and
// high-entropy client secrets are held as SHA-256 digests (see Digest).
// Every secret hashed this way has at least 128 random bits, so a fast hash
// is enough: there is nothing to brute-force (RFC 6819 §5.1.4.1.3). A short
// client secret is held as a slow password hash instead (Client.SecretHash;
// package store/clientsecret decides which and checks them).
package oauth

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"
)

// Errors every store returns, and the engine matches with errors.Is.
var (
	// ErrNotFound: no such client or token (or the token was purged).
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: a client with that client_id already exists.
	ErrConflict = errors.New("store: already exists")
	// ErrRefreshReused: the refresh token was already rotated or revoked.
	// The caller revokes the token's family (RFC 6819 §5.2.2.3).
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
	SecretDigest Digest // zero for public clients and when SecretHash is set
	// SecretHash is a slow password hash of a short secret in PHC form
	// ($argon2id$…, or Kong's $pbkdf2-sha512$… kept from an import); ""
	// when SecretDigest holds the secret. Never both.
	SecretHash   string
	Name         string
	Consumer     string // the consumer's id or username
	Type         string // Confidential or Public
	RedirectURIs []string
	CreatedAt    time.Time
	// IntrospectServices are the services (serve-mode SERVICE names, Kong
	// service ids) whose tokens this client may introspect besides its
	// own: the operator's grant to a resource server (RFC 7662 §4).
	IntrospectServices []string
}

// MayIntrospect reports whether c was granted introspection of the tokens
// of service svc.
func (c *Client) MayIntrospect(svc string) bool {
	for _, s := range c.IntrospectServices {
		if s == svc {
			return true
		}
	}
	return false
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

// AccessToken is the part of a Token that validating a request needs; a
// cache can hand it out without allocating.
type AccessToken struct {
	ClientID            string
	ServiceID           string // "" for a global token
	AuthenticatedUserID string
	Scope               string
	IssuedAt            time.Time
	ExpiresIn           int64 // seconds; 0 = never expires
	Revoked             bool
}

// AccessToken returns the part of t that validation needs.
func (t *Token) AccessToken() AccessToken {
	return AccessToken{
		ClientID:            t.ClientID,
		ServiceID:           t.ServiceID,
		AuthenticatedUserID: t.AuthenticatedUserID,
		Scope:               t.Scope,
		IssuedAt:            t.IssuedAt,
		ExpiresIn:           t.ExpiresIn,
		Revoked:             t.Revoked,
	}
}

// AccessExpired is Token.AccessExpired.
func (t *AccessToken) AccessExpired(now time.Time) bool {
	return t.ExpiresIn > 0 && now.Unix()-t.IssuedAt.Unix() > t.ExpiresIn
}

// Revocation selects the tokens to revoke. Exactly one field is set.
type Revocation struct {
	Access   *Digest
	Refresh  *Digest // revokes the whole family of that refresh token
	ClientID string
	UserID   string // authenticated_userid
	FamilyID string
}

// Printable reports whether s is valid UTF-8 of printable characters
// (space included, no control character): what a form field, a Basic
// header or an upstream header value can carry for a client_id, a secret,
// a consumer or a user id. Invalid bytes are refused, not read as U+FFFD
// (a printable character): a value stored so could never be sent back.
func Printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}
