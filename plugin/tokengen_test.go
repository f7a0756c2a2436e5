package plugin

import (
	"regexp"
	"testing"

	"github.com/oauth2-password/oauth2-password/store"
)

func digestOfStr(s string) store.Digest { return store.DigestOf(s) }

func TestRandomStringShape(t *testing.T) {
	re := regexp.MustCompile(`^[A-Za-z0-9]{32}$`)
	seen := map[string]bool{}
	counts := map[byte]int{}
	for i := 0; i < 2000; i++ {
		s, err := RandomString()
		if err != nil {
			t.Fatal(err)
		}
		if !re.MatchString(s) {
			t.Fatalf("%q is not 32 chars of [A-Za-z0-9]", s)
		}
		if seen[s] {
			t.Fatalf("duplicate %q", s)
		}
		seen[s] = true
		for j := 0; j < len(s); j++ {
			counts[s[j]]++
		}
	}
	// 64000 draws over 62 symbols: every symbol appears (a broken
	// alphabet or mapping would leave some out).
	if len(counts) != 62 {
		t.Errorf("%d distinct characters, want 62", len(counts))
	}
}

func revocationOf(d store.Digest) store.Revocation { return store.Revocation{Access: &d} }
