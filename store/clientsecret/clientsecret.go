// Package clientsecret decides how a client secret is stored and checks a
// presented secret against what is stored.
//
// A secret with enough characters to be high-entropy (FastMinLen, as every
// generated secret is) is kept as a SHA-256 digest: nothing to brute-force,
// and checking it costs nanoseconds. A shorter one (apps in the field carry
// the secrets Kong accepted, e.g. "secret123") would fall to a dictionary
// in seconds as a fast digest, so it is kept as an argon2id hash instead
// (RFC 6819 §5.1.4.1.3); a secret Kong hashed (hash_secret) keeps Kong's
// PBKDF2 form. Both slow forms are checked through a Verifier, which
// remembers correct answers for a while so that a busy client does not pay
// the slow hash on every token request.
//
// The plaintext is never stored, logged or kept in memory beyond the call.
package clientsecret

import (
	"context"
	"errors"
	"unicode/utf8"

	"github.com/oauth2-password/oauth2-password/plugin/oauth"
)

const (
	// MaxLen is the longest secret accepted, in characters.
	MaxLen = 255
	// FastMinLen is the shortest secret kept as a fast digest: 22
	// characters of [A-Za-z0-9] carry 131 bits when random.
	FastMinLen = 22
)

// ErrInvalid: a secret must be 1 to MaxLen printable characters.
var ErrInvalid = errors.New("a client secret must be 1 to 255 printable characters")

// Check accepts 1 to MaxLen printable UTF-8 characters (space included):
// what Kong accepted and a form body or Basic header can carry.
func Check(secret string) error {
	if n := utf8.RuneCountInString(secret); n == 0 || n > MaxLen || !oauth.Printable(secret) {
		return ErrInvalid
	}
	return nil
}

// Weak reports whether secret is too short to be kept as a fast digest; it
// is then stored with argon2id, and is only as strong as its characters.
func Weak(secret string) bool { return utf8.RuneCountInString(secret) < FastMinLen }

// Set stores secret on c, as a SHA-256 digest when it is long enough and
// as an argon2id hash when it is short. It refuses a secret Check refuses.
func Set(c *oauth.Client, secret string) error {
	if err := Check(secret); err != nil {
		return err
	}
	if !Weak(secret) {
		c.SecretDigest, c.SecretHash = oauth.DigestOf(secret), ""
		return nil
	}
	h, err := hashArgon2id(secret)
	if err != nil {
		return err
	}
	c.SecretDigest, c.SecretHash = oauth.Digest{}, h
	return nil
}

// Verify reports, in constant time for a fast digest, whether presented is
// the secret of the confidential client c; digest is DigestOf(presented),
// which the caller already computed. A slow hash goes through Default.
func Verify(c oauth.Client, presented string, digest oauth.Digest) bool {
	if c.SecretHash == "" {
		return digest.Equal(c.SecretDigest)
	}
	return Default.Verify(c.ID, presented, c.SecretHash)
}

// SlowAhead reports whether verifying presented for c would run a slow
// hash: c's secret is kept as one and Default does not remember presented
// as correct. The caller may then bound who waits for it (VerifyWithin).
func SlowAhead(c oauth.Client, presented string) bool {
	return c.SecretHash != "" && !Default.Remembered(c.ID, presented, c.SecretHash)
}

// VerifyWithin is Verify that waits for a slow-hash slot only until ctx
// ends, and then answers ErrBusy.
func VerifyWithin(ctx context.Context, c oauth.Client, presented string, digest oauth.Digest) (bool, error) {
	if c.SecretHash == "" {
		return digest.Equal(c.SecretDigest), nil
	}
	return Default.VerifyWithin(ctx, c.ID, presented, c.SecretHash)
}

// verifySlow checks presented against a stored slow hash of either form.
// An unknown or malformed form never matches.
func verifySlow(presented, stored string) bool {
	switch {
	case IsKongHash(stored):
		return verifyKong(presented, stored)
	case isArgon2id(stored):
		return verifyArgon2id(presented, stored)
	}
	return false
}
