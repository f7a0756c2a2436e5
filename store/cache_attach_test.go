package store_test

import (
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/store"
)

// TestCacheAttachmentLivesAndDiesWithToken: a value attached to a cached
// token (the upstream JWT) is returned only while that very copy of the
// token is cached: never after its revocation, its expiry, a flush, or for
// a token cached again.
func TestCacheAttachmentLivesAndDiesWithToken(t *testing.T) {
	clk := newClock()
	s := openSQLite(t)
	c := store.NewCached(s, store.CacheOptions{Now: clk.Now, StaleIfError: time.Hour})
	defer c.Close()
	if err := c.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateClient(t.Context(), store.Client{ID: "c", Consumer: "x", Type: store.Public}); err != nil {
		t.Fatal(err)
	}
	newCached := func(expiresIn int64) store.Token {
		tok := newToken(t, "c", clk.Now(), expiresIn)
		if err := c.CreateToken(t.Context(), tok); err != nil {
			t.Fatal(err)
		}
		return tok
	}
	// Attached and CachedAccessAttached (validation's one lookup) must
	// agree every time.
	attached := func(t *testing.T, tok store.Token) bool {
		t.Helper()
		v, ok := c.Attached(tok.Access)
		_, w, _ := c.CachedAccessAttached(tok.Access)
		if w != v {
			t.Fatalf("CachedAccessAttached gives %v, Attached %v, %v", w, v, ok)
		}
		return ok
	}

	for _, tc := range []struct {
		name string
		end  func(tok store.Token)
	}{
		{"revoked by access token", func(tok store.Token) {
			if _, err := c.Revoke(t.Context(), store.Revocation{Access: &tok.Access}); err != nil {
				t.Fatal(err)
			}
		}},
		{"revoked by user (flush)", func(tok store.Token) {
			if _, err := c.Revoke(t.Context(), store.Revocation{UserID: "user"}); err != nil {
				t.Fatal(err)
			}
		}},
		// Validation of an expired token (a cache miss, then the store)
		// drops its entry, and the attachment with it.
		{"expired", func(tok store.Token) {
			clk.Add(11 * time.Second)
			if _, ok := c.CachedAccess(tok.Access); ok {
				t.Fatal("an expired token served from the cache")
			}
			c.TokenByAccess(t.Context(), tok.Access)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := newCached(10)
			if attached(t, tok) {
				t.Fatal("a fresh token has an attachment")
			}
			c.Attach(tok.Access, "jwt")
			if v, ok := c.Attached(tok.Access); !ok || v != "jwt" {
				t.Fatalf("Attached = %v, %v; want jwt, true", v, ok)
			}
			if at, v, ok := c.CachedAccessAttached(tok.Access); !ok || v != "jwt" || at.ClientID != "c" {
				t.Fatalf("CachedAccessAttached = %v, %v, %v; want the token, jwt, true", at, v, ok)
			}
			tc.end(tok)
			if attached(t, tok) {
				t.Fatal("the attachment outlived its token")
			}
			// Cached again (a fresh read): it starts with no attachment.
			c.TokenByAccess(t.Context(), tok.Access)
			if attached(t, tok) {
				t.Fatal("a token cached again got the old attachment back")
			}
		})
	}

	// A token that is not cached takes no attachment.
	tok := newToken(t, "c", clk.Now(), 10)
	if err := s.CreateToken(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	c.Attach(tok.Access, "jwt")
	if attached(t, tok) {
		t.Fatal("attached to a token that was not cached")
	}
}
