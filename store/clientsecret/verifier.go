package clientsecret

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"sync"
	"time"
)

// Defaults of the process-wide Verifier.
const (
	DefaultRememberFor = 10 * time.Minute
	DefaultRememberMax = 10_000 // ≈ 100 bytes each
)

// Default is the process-wide Verifier that Verify uses.
var Default = NewVerifier(DefaultRememberFor, DefaultRememberMax)

// Verifier checks secrets against slow hashes and remembers each correct
// verification for a bounded time, in a bounded number of entries.
//
// An entry is keyed by HMAC-SHA-256, under a random per-process key, of the
// client_id, the presented secret and the stored hash: a wrong secret, a
// changed hash (a rotated secret) or another client never matches one, and
// the key makes an entry useless outside this process. Failures are never
// remembered (throttling bounds how often a client_id can make us pay for
// them).
type Verifier struct {
	rememberFor time.Duration
	max         int
	now         func() time.Time
	slow        func(presented, stored string) bool // verifySlow; tests count calls

	mac sync.Pool // of hash.Hash, keyed

	mu   sync.Mutex
	seen map[[32]byte]int64 // → expiry, unix nanoseconds
}

// NewVerifier returns a Verifier that remembers a correct verification for
// rememberFor in at most max entries; rememberFor or max <= 0 remembers
// nothing (every verification pays the slow hash).
func NewVerifier(rememberFor time.Duration, max int) *Verifier {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic("clientsecret: no randomness: " + err.Error()) // crypto/rand never fails on Linux
	}
	v := &Verifier{rememberFor: rememberFor, max: max, now: time.Now, slow: verifySlow, seen: map[[32]byte]int64{}}
	v.mac.New = func() any { return hmac.New(sha256.New, key) }
	return v
}

// Verify reports whether presented is the secret whose slow hash (Kong's
// PBKDF2 or argon2id) is stored for clientID.
func (v *Verifier) Verify(clientID, presented, stored string) bool {
	if v.rememberFor <= 0 || v.max <= 0 {
		return v.slow(presented, stored)
	}
	k := v.key(clientID, presented, stored)
	now := v.now().UnixNano()
	v.mu.Lock()
	exp, ok := v.seen[k]
	v.mu.Unlock()
	if ok && now < exp {
		return true
	}
	if !v.slow(presented, stored) {
		return false
	}
	v.remember(k, now)
	return true
}

func (v *Verifier) key(parts ...string) [32]byte {
	m := v.mac.Get().(hash.Hash)
	defer v.mac.Put(m)
	m.Reset()
	var n [8]byte
	for _, p := range parts { // length-prefixed: no two tuples collide
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		m.Write(n[:])
		m.Write([]byte(p))
	}
	var k [32]byte
	m.Sum(k[:0])
	return k
}

// remember stores k until now+rememberFor. When full it first drops
// expired entries, then, if still full, an arbitrary one.
func (v *Verifier) remember(k [32]byte, now int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.seen[k]; !ok && len(v.seen) >= v.max {
		for e, exp := range v.seen {
			if exp <= now {
				delete(v.seen, e)
			}
		}
		for e := range v.seen {
			if len(v.seen) < v.max {
				break
			}
			delete(v.seen, e)
		}
	}
	v.seen[k] = now + int64(v.rememberFor)
}

// Len is the number of remembered verifications (expired ones included
// until they are dropped).
func (v *Verifier) Len() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.seen)
}
