package clientsecret

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of the process-wide Verifier.
const (
	DefaultRememberFor = 10 * time.Minute
	DefaultRememberMax = 10_000 // ≈ 100 bytes each
)

// DefaultConcurrency is how many slow hashes the process-wide Verifier runs
// at once unless told otherwise: one per CPU Go schedules on. argon2id is
// CPU-bound, so more at once would not finish sooner, only hold more
// memory (19 MiB each).
var DefaultConcurrency = runtime.GOMAXPROCS(0)

// ErrBusy: no slow-hash slot came free before the caller's context ended.
var ErrBusy = errors.New("clientsecret: every slow-hash slot is busy")

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
	// slots bounds the slow hashes running at once: one token each.
	// Replaced only by SetConcurrency, read atomically.
	slots atomic.Pointer[chan struct{}]

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
	v.SetConcurrency(DefaultConcurrency)
	return v
}

// SetConcurrency bounds the slow hashes v runs at once to n (at least 1).
// Each argon2id hash holds 19 MiB while it runs, so the bound is what
// keeps a flood of wrong secrets from holding memory without limit:
// callers past it wait for a slot (VerifyWithin: until their context
// ends). Hashes already running keep the slots they hold.
func (v *Verifier) SetConcurrency(n int) {
	if n < 1 {
		n = 1
	}
	ch := make(chan struct{}, n)
	v.slots.Store(&ch)
}

// Remembered reports whether presented was verified correct for clientID
// against stored within the remember period: Verify would then answer
// true at once, without a slow hash.
func (v *Verifier) Remembered(clientID, presented, stored string) bool {
	if v.rememberFor <= 0 || v.max <= 0 {
		return false
	}
	k := v.key(clientID, presented, stored)
	v.mu.Lock()
	exp, ok := v.seen[k]
	v.mu.Unlock()
	return ok && v.now().UnixNano() < exp
}

// Verify reports whether presented is the secret whose slow hash (Kong's
// PBKDF2 or argon2id) is stored for clientID, waiting as long as it takes
// for a slot.
func (v *Verifier) Verify(clientID, presented, stored string) bool {
	ok, _ := v.VerifyWithin(context.Background(), clientID, presented, stored)
	return ok
}

// VerifyWithin is Verify that waits for a slow-hash slot only until ctx
// ends, and then answers ErrBusy. A remembered verification needs no slot.
func (v *Verifier) VerifyWithin(ctx context.Context, clientID, presented, stored string) (bool, error) {
	remember := v.rememberFor > 0 && v.max > 0
	var k [32]byte
	if remember {
		k = v.key(clientID, presented, stored)
		now := v.now().UnixNano()
		v.mu.Lock()
		exp, ok := v.seen[k]
		v.mu.Unlock()
		if ok && now < exp {
			return true, nil
		}
	}
	slots := *v.slots.Load()
	select {
	case slots <- struct{}{}:
	case <-ctx.Done():
		return false, ErrBusy
	}
	ok := v.slow(presented, stored)
	<-slots
	if ok && remember {
		v.remember(k, v.now().UnixNano())
	}
	return ok, nil
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
