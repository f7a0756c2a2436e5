package plugin

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"sync"
	"time"
)

const (
	tokenLen      = 32
	tokenAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	// rejectFrom: bytes at or above 248 = 4*62 are dropped so that every
	// character is equally likely (no modulo bias).
	rejectFrom = 256 - 256%len(tokenAlphabet)

	// A checked token is tokenRandLen random characters followed by
	// tokenCheckLen characters of check value: still 32 characters of
	// [A-Za-z0-9], the shape of Kong's tokens, so that clients written
	// for Kong see nothing new. 24 random characters are 142 bits.
	tokenCheckLen = 8
	tokenRandLen  = tokenLen - tokenCheckLen
)

// RandomString returns 32 characters from [A-Za-z0-9] drawn from
// crypto/rand: about 190 bits, the shape of Kong's random_string(), used
// for generated client credentials (and for tokens while the check key
// cannot be read).
func RandomString() (string, error) {
	out := make([]byte, 0, tokenLen)
	if err := appendRandom(&out, tokenLen); err != nil {
		return "", err
	}
	return string(out), nil
}

// appendRandom appends n characters of tokenAlphabet drawn from
// crypto/rand to out.
func appendRandom(out *[]byte, n int) error {
	buf := make([]byte, 48)
	want := len(*out) + n
	for len(*out) < want {
		if _, err := rand.Read(buf); err != nil {
			return err
		}
		for _, b := range buf {
			if int(b) >= rejectFrom {
				continue
			}
			*out = append(*out, tokenAlphabet[int(b)%len(tokenAlphabet)])
			if len(*out) == want {
				break
			}
		}
	}
	return nil
}

// newFamilyID names the chain of tokens descended from one password grant,
// so that a replayed refresh token can revoke all of them.
func newFamilyID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// tokenChecker makes and checks the check value of issued tokens: the
// last 8 characters are a keyed hash (HMAC-SHA-256) of the first 24, so
// that a made-up token is refused without a store lookup (a random string
// passes with probability 62^-8, about 5·10^-15). The key is the same on
// every node (the store keeps it), so a token issued on any node passes
// everywhere. It is not a credential: with it one can make a token that
// costs one lookup, which is what every token cost before.
type tokenChecker struct {
	macs sync.Pool // of hash.Hash: hmac.New allocates and hashes the key
}

// checkDomain separates this use of the key from any later one.
const checkDomain = "oauth2-password token check v1\x00"

func newTokenChecker(key []byte) *tokenChecker {
	k := append([]byte(nil), key...)
	return &tokenChecker{macs: sync.Pool{New: func() any { return hmac.New(sha256.New, k) }}}
}

// checkValue writes the check value of the random part rnd into dst.
func (c *tokenChecker) checkValue(dst *[tokenCheckLen]byte, rnd string) {
	m := c.macs.Get().(hash.Hash)
	m.Reset()
	m.Write([]byte(checkDomain))
	m.Write([]byte(rnd))
	var sum [sha256.Size]byte
	v := binary.BigEndian.Uint64(m.Sum(sum[:0]))
	c.macs.Put(m)
	for i := range dst {
		dst[i] = tokenAlphabet[v%uint64(len(tokenAlphabet))]
		v /= uint64(len(tokenAlphabet))
	}
}

// newToken returns a checked token.
func (c *tokenChecker) newToken() (string, error) {
	out := make([]byte, 0, tokenLen)
	if err := appendRandom(&out, tokenRandLen); err != nil {
		return "", err
	}
	var cv [tokenCheckLen]byte
	c.checkValue(&cv, string(out))
	return string(append(out, cv[:]...)), nil
}

// valid reports whether tok carries a correct check value. Tokens of
// other shapes (imported from Kong, issued before the check existed, or
// made up) do not.
func (c *tokenChecker) valid(tok string) bool {
	if len(tok) != tokenLen {
		return false
	}
	var cv [tokenCheckLen]byte
	c.checkValue(&cv, tok[:tokenRandLen])
	return subtle.ConstantTimeCompare(cv[:], []byte(tok[tokenRandLen:])) == 1
}

// CheckKeyStore is an optional Store extension (store.Cached, store.Lazy):
// the key of the check value, shared by every node.
type CheckKeyStore interface {
	TokenCheckKey(ctx context.Context) ([]byte, error)
}

// checkKeyRetry is how long after a failed read of the check key the next
// request tries again: a store that is down is not asked on every request.
const checkKeyRetry = 5 * time.Second

// checker returns the token checker, reading the key from the store the
// first time; nil while it cannot be had (no such store, or it failed in
// the last checkKeyRetry). Without it tokens are issued unchecked and
// every token is looked up as an unknown-shaped one.
func (e *Engine) checker(ctx context.Context) *tokenChecker {
	if c := e.check.Load(); c != nil {
		return c
	}
	ks, ok := e.opt.Store.(CheckKeyStore)
	if !ok {
		return nil
	}
	e.checkMu.Lock()
	defer e.checkMu.Unlock()
	if c := e.check.Load(); c != nil {
		return c
	}
	now := e.now()
	if now.Before(e.checkRetry) {
		return nil
	}
	sctx, cancel := e.storeCtx(ctx)
	defer cancel()
	key, err := ks.TokenCheckKey(sctx)
	if err != nil || len(key) == 0 {
		e.checkRetry = now.Add(checkKeyRetry)
		return nil
	}
	c := newTokenChecker(key)
	e.check.Store(c)
	return c
}

// newSecretToken mints an access or refresh token: checked when the key
// is available.
func (r *request) newSecretToken() (string, error) {
	if c := r.e.checker(r.ctx); c != nil {
		return c.newToken()
	}
	return RandomString()
}
