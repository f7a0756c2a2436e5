package clientsecret

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// argon2id parameters for new hashes: OWASP's Password Storage Cheat Sheet
// minimum (19 MiB, 2 passes, 1 lane), 16-byte salt, 32-byte hash. About
// 25 ms of one core on the 2-core machine of the README's Performance
// section; the Verifier remembers successes so a client
// pays it once per remember period, not per token request. Stored in PHC
// form, so that other parameters can be chosen later and old hashes still
// verify with theirs.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024 // KiB
	argonThreads = 1
	argonSaltLen = 16
	argonKeyLen  = 32
)

// Upper bounds on parameters read back from the database, so that a
// corrupted row cannot make one verification allocate gigabytes.
const (
	maxArgonMemory  = 256 * 1024 // KiB
	maxArgonTime    = 16
	maxArgonThreads = 16
)

const argonPrefix = "$argon2id$"

var b64 = base64.RawStdEncoding.Strict()

func hashArgon2id(secret string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("clientsecret: salt: %w", err)
	}
	key := argon2.IDKey([]byte(secret), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("%sv=%d$m=%d,t=%d,p=%d$%s$%s", argonPrefix, argon2.Version,
		argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

func isArgon2id(s string) bool { return strings.HasPrefix(s, argonPrefix) }

// argonParams is a parsed $argon2id$v=19$m=…,t=…,p=…$salt$hash.
type argonParams struct {
	memory, time uint32
	threads      uint8
	salt, key    []byte
}

func parseArgon2id(s string) (argonParams, bool) {
	var p argonParams
	parts := strings.Split(strings.TrimPrefix(s, argonPrefix), "$")
	if len(parts) != 4 || parts[0] != fmt.Sprintf("v=%d", argon2.Version) {
		return p, false
	}
	var m, t, th uint32
	if n, err := fmt.Sscanf(parts[1], "m=%d,t=%d,p=%d", &m, &t, &th); n != 3 || err != nil ||
		fmt.Sprintf("m=%d,t=%d,p=%d", m, t, th) != parts[1] {
		return p, false
	}
	if m == 0 || m > maxArgonMemory || t == 0 || t > maxArgonTime || th == 0 || th > maxArgonThreads {
		return p, false
	}
	salt, err1 := b64.DecodeString(parts[2])
	key, err2 := b64.DecodeString(parts[3])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 || len(key) > 64 {
		return p, false
	}
	return argonParams{memory: m, time: t, threads: uint8(th), salt: salt, key: key}, true
}

func verifyArgon2id(presented, stored string) bool {
	p, ok := parseArgon2id(stored)
	if !ok {
		return false
	}
	got := argon2.IDKey([]byte(presented), p.salt, p.time, p.memory, p.threads, uint32(len(p.key)))
	return subtle.ConstantTimeCompare(got, p.key) == 1
}
