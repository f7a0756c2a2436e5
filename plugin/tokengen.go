package plugin

import (
	"crypto/rand"
	"encoding/hex"
)

const (
	tokenLen      = 32
	tokenAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	// rejectFrom: bytes at or above 248 = 4*62 are dropped so that every
	// character is equally likely (no modulo bias).
	rejectFrom = 256 - 256%len(tokenAlphabet)
)

// RandomString returns 32 characters from [A-Za-z0-9] drawn from
// crypto/rand: about 190 bits, the shape of Kong's random_string(), used
// for access tokens, refresh tokens and generated client credentials.
func RandomString() (string, error) {
	out := make([]byte, 0, tokenLen)
	buf := make([]byte, 48)
	for len(out) < tokenLen {
		if _, err := rand.Read(buf); err != nil {
			return "", err
		}
		for _, b := range buf {
			if int(b) >= rejectFrom {
				continue
			}
			out = append(out, tokenAlphabet[int(b)%len(tokenAlphabet)])
			if len(out) == tokenLen {
				break
			}
		}
	}
	return string(out), nil
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
