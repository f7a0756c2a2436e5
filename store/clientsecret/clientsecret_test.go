package clientsecret

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/plugin/oauth"
)

// kongVector is the test vector of Kong's own PBKDF2 spec for its oauth2
// plugin: "tofu" with the salt "a litte bit, just a little bit".
const kongVector = "$pbkdf2-sha512$i=10000,l=32$YSBsaXR0ZSBiaXQsIGp1c3QgYSBsaXR0bGUgYml0$z6ysNworexAhDELywIDi0ba0B0T7F/MBZ6Ige9lWRYI"

func TestCheck(t *testing.T) {
	tests := []struct {
		secret string
		ok     bool
	}{
		{"s", true},
		{"secret123", true},
		{"with space and ünïcode", true},
		{strings.Repeat("x", 255), true},
		{strings.Repeat("é", 255), true}, // characters, not bytes
		{"", false},
		{strings.Repeat("x", 256), false},
		{"tab\there", false},
		{"nul\x00", false},
		{"newline\n", false},
		{"bad utf-8 \xff", false},
	}
	for _, tt := range tests {
		if err := Check(tt.secret); (err == nil) != tt.ok {
			t.Errorf("Check(%q) = %v, want ok=%v", tt.secret, err, tt.ok)
		}
	}
}

// TestSet: a long secret becomes a fast digest, a short one an argon2id
// hash that holds no trace of the plaintext; both verify, and only with
// the right secret.
func TestSet(t *testing.T) {
	tests := []struct {
		name, secret string
		slow         bool
	}{
		{"short", "secret123", true},
		{"one character", "x", true},
		{"21 characters", strings.Repeat("a", 21), true},
		{"22 characters", strings.Repeat("a", 22), false},
		{"generated length", "Vq8ZkT1mWcR8pLx2NdA6sYbE4uJf7G3h", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := oauth.Client{ID: "app", Type: oauth.Confidential}
			if err := Set(&c, tt.secret); err != nil {
				t.Fatal(err)
			}
			if got := c.SecretHash != ""; got != tt.slow || (c.SecretDigest == oauth.Digest{}) == !tt.slow {
				t.Fatalf("slow hash %v (digest set %v), want slow %v", got, c.SecretDigest != oauth.Digest{}, tt.slow)
			}
			if Weak(tt.secret) != tt.slow {
				t.Errorf("Weak = %v, want %v", Weak(tt.secret), tt.slow)
			}
			if tt.slow {
				if !strings.HasPrefix(c.SecretHash, "$argon2id$v=19$m=19456,t=2,p=1$") ||
					(len(tt.secret) > 3 && strings.Contains(c.SecretHash, tt.secret)) {
					t.Errorf("hash %q is not argon2id with the documented parameters, or holds the secret", c.SecretHash)
				}
			}
			v := NewVerifier(0, 0)
			check := func(s string) bool {
				if c.SecretHash == "" {
					return oauth.DigestOf(s).Equal(c.SecretDigest)
				}
				return v.Verify(c.ID, s, c.SecretHash)
			}
			if !check(tt.secret) {
				t.Errorf("the secret does not verify")
			}
			if check(tt.secret+"x") || check("") {
				t.Errorf("a wrong secret verifies")
			}
			if err := Set(&c, "bad\nsecret"); err == nil {
				t.Errorf("Set accepted a control character")
			}
		})
	}
}

// TestKongHash: Kong's spec vector verifies, as does a hash made the way
// Kong 3.9 makes one; every string Kong itself would not verify is not a
// Kong hash here either.
func TestKongHash(t *testing.T) {
	v := NewVerifier(0, 0)
	if !IsKongHash(kongVector) || !v.Verify("c", "tofu", kongVector) {
		t.Fatalf("Kong's test vector does not verify")
	}
	if v.Verify("c", "bun", kongVector) || v.Verify("c", "tofu ", kongVector) {
		t.Errorf("a wrong secret verifies against Kong's vector")
	}
	salt, key, _ := parseKong(kongVector)
	if string(salt) != "a litte bit, just a little bit" || len(key) != 32 {
		t.Errorf("parsed salt %q, key of %d bytes", salt, len(key))
	}
	notKong := []string{
		strings.Replace(kongVector, "sha512", "sha256", 1),
		strings.Replace(kongVector, "i=10000", "i=1000", 1),
		strings.Replace(kongVector, "l=32", "l=16", 1),
		kongVector + "=",                             // padded
		kongVector + "$x",                            // extra part
		strings.TrimSuffix(kongVector, "RYI"),        // short key
		strings.Replace(kongVector, "RYI", "RYJ", 1), // non-canonical last character
		"$pbkdf2-sha512$i=10000,l=32$$" + kongVector[len(kongVector)-43:], // empty salt
		"tofu",
		"$2b$12$abcdefghijklmnopqrstuv",
	}
	for _, s := range notKong {
		if IsKongHash(s) || v.Verify("c", "tofu", s) {
			t.Errorf("%q is taken for a Kong hash", s)
		}
	}
}

// TestVerifierRemembers: a correct slow verification is remembered, so the
// next one does not hash again; a wrong secret, another client or a
// changed hash never hits the memory; entries expire and their number is
// bounded.
func TestVerifierRemembers(t *testing.T) {
	clock := time.Unix(1_700_000_000, 0)
	v := NewVerifier(time.Minute, 2)
	v.now = func() time.Time { return clock }
	hashes := 0
	v.slow = func(p, s string) bool { hashes++; return verifySlow(p, s) }

	check := func(id, secret, stored string, want bool, wantHashes int) {
		t.Helper()
		hashes = 0
		if got := v.Verify(id, secret, stored); got != want || hashes != wantHashes {
			t.Errorf("Verify(%q, %q) = %v after %d slow hashes, want %v after %d", id, secret, got, hashes, want, wantHashes)
		}
	}
	check("a", "tofu", kongVector, true, 1)
	check("a", "tofu", kongVector, true, 0) // remembered
	check("a", "bun", kongVector, false, 1)
	check("a", "bun", kongVector, false, 1)                                      // failures are not remembered
	check("b", "tofu", kongVector, true, 1)                                      // another client: its own entry
	check("a", "tofu", strings.Replace(kongVector, "z6ys", "z6yt", 1), false, 1) // another hash
	if v.Len() != 2 {
		t.Fatalf("%d remembered, want 2", v.Len())
	}

	// Bounded: a third client evicts one entry.
	check("c", "tofu", kongVector, true, 1)
	if v.Len() != 2 {
		t.Errorf("%d entries, want at most 2", v.Len())
	}

	// Expired: the slow hash runs again, and still answers right.
	check("c", "tofu", kongVector, true, 0)
	clock = clock.Add(time.Minute)
	check("c", "bun", kongVector, false, 1)
	check("c", "tofu", kongVector, true, 1)

	// Remembering nothing: every verification hashes.
	v.rememberFor = 0
	check("c", "tofu", kongVector, true, 1)
	check("c", "tofu", kongVector, true, 1)
}

// TestVerify: the function the engine calls picks the digest or the slow
// hash from the client.
func TestVerify(t *testing.T) {
	fast := oauth.Client{ID: "f", SecretDigest: oauth.DigestOf("a-long-random-secret-0123456789")}
	slow := oauth.Client{ID: "s", SecretHash: kongVector}
	tests := []struct {
		c      oauth.Client
		secret string
		want   bool
	}{
		{fast, "a-long-random-secret-0123456789", true},
		{fast, "tofu", false},
		{slow, "tofu", true},
		{slow, "bun", false},
		{oauth.Client{ID: "none"}, "", false},
	}
	for _, tt := range tests {
		if got := Verify(tt.c, tt.secret, oauth.DigestOf(tt.secret)); got != tt.want {
			t.Errorf("Verify(%s, %q) = %v, want %v", tt.c.ID, tt.secret, got, tt.want)
		}
	}
}

// TestVerifierBoundsSlowHashes: no more slow hashes run at once than the
// concurrency; a caller whose context ends while it waits gets ErrBusy
// without hashing; a remembered secret needs no slot.
func TestVerifierBoundsSlowHashes(t *testing.T) {
	v := NewVerifier(time.Minute, 10)
	v.SetConcurrency(2)
	if !v.Verify("warm", "tofu", kongVector) {
		t.Fatal("warm-up failed")
	}
	var running, peak atomic.Int32
	release := make(chan struct{})
	v.slow = func(string, string) bool {
		n := running.Add(1)
		for {
			old := peak.Load()
			if n <= old || peak.CompareAndSwap(old, n) {
				break
			}
		}
		<-release
		running.Add(-1)
		return false // the test is about the slots, not the hash
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { v.Verify("c", "bun", kongVector) })
	}
	for running.Load() < 2 {
		runtime.Gosched()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if ok, err := v.VerifyWithin(ctx, "c", "tofu", kongVector); ok || !errors.Is(err, ErrBusy) {
		t.Errorf("with every slot busy: %v, %v; want ErrBusy", ok, err)
	}
	if ok, err := v.VerifyWithin(ctx, "warm", "tofu", kongVector); !ok || err != nil {
		t.Errorf("a remembered secret waited for a slot: %v, %v", ok, err)
	}
	close(release)
	wg.Wait()
	if p := peak.Load(); p != 2 {
		t.Errorf("%d slow hashes ran at once, want the bound, 2", p)
	}
}
