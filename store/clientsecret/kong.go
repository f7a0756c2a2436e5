package clientsecret

import (
	"crypto/pbkdf2"
	"crypto/sha512"
	"crypto/subtle"
	"strings"
)

// Kong 3.x with hash_secret stores a client secret as
//
//	$pbkdf2-sha512$i=10000,l=32$<salt>$<hash>
//
// PBKDF2-HMAC-SHA512, 10,000 iterations, a 32-byte key, the salt (16
// random bytes when Kong makes it) and key in standard base64 without
// padding. Kong verifies by deriving again with the stored salt and
// comparing the whole formatted string, which it always formats with
// these parameters: a string with any other prefix, or a non-canonical
// base64 form, never verifies in Kong, so it never verifies here either.
const (
	kongPrefix = "$pbkdf2-sha512$i=10000,l=32$"
	kongIter   = 10000
	kongKeyLen = 32
)

// IsKongHash reports whether s is a secret hash in the one form Kong
// writes and verifies (above): the importer keeps such a value as it is.
func IsKongHash(s string) bool {
	_, _, ok := parseKong(s)
	return ok
}

func parseKong(s string) (salt, key []byte, ok bool) {
	rest, found := strings.CutPrefix(s, kongPrefix)
	if !found {
		return nil, nil, false
	}
	saltB64, keyB64, found := strings.Cut(rest, "$")
	if !found {
		return nil, nil, false
	}
	salt, err1 := b64.DecodeString(saltB64)
	key, err2 := b64.DecodeString(keyB64)
	if err1 != nil || err2 != nil || len(salt) == 0 || len(key) != kongKeyLen {
		return nil, nil, false
	}
	return salt, key, true
}

func verifyKong(presented, stored string) bool {
	salt, key, ok := parseKong(stored)
	if !ok {
		return false
	}
	got, err := pbkdf2.Key(sha512.New, presented, salt, kongIter, kongKeyLen)
	return err == nil && subtle.ConstantTimeCompare(got, key) == 1
}
