package ha

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/oauth2-password/oauth2-password/store"
	"github.com/oauth2-password/oauth2-password/store/pgtest"
)

// TestDemotedPrimaryDropped: a failover that demotes the old primary
// without closing its sessions (a manager that turns it read-only, a
// proxy or DNS name that moved) leaves the store's pooled connections on
// a server that refuses writes with SQLSTATE 25006. The first write that
// meets it fails (answered 503); every later one runs on the new primary:
// the pool drops the connections to the demoted server instead of
// handing them out again.
func TestDemotedPrimaryDropped(t *testing.T) {
	t.Parallel() // after the failover tests, whose windows are timed alone
	primary := newPrimary(t)
	standby := primary.StartStandby(t, pgtest.StandbyOptions{Synchronous: true})
	url := pgtest.MultiHostURL(primary.URL(), primary, standby)
	s, err := store.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateClient(t.Context(), store.Client{ID: "c", Consumer: "bob", Type: store.Public}); err != nil {
		t.Fatal(err)
	}
	write := func() (store.Token, error) {
		tok := store.Token{ClientID: "c", Access: store.DigestOf(randomToken()), IssuedAt: time.Now(), ExpiresIn: 3600,
			AuthenticatedUserID: "u", FamilyID: randomToken()}
		return tok, s.CreateToken(t.Context(), tok)
	}
	var before []store.Token
	for range 4 {
		tok, err := write()
		if err != nil {
			t.Fatal(err)
		}
		before = append(before, tok)
	}

	// Demoted in place: every session of the old primary turns read-only.
	if err := primary.Exec(`ALTER SYSTEM SET default_transaction_read_only = on`, `SELECT pg_reload_conf()`); err != nil {
		t.Fatal(err)
	}
	if _, err := standby.Promote(); err != nil {
		t.Fatal(err)
	}
	// The first writes are revocations, which run in a transaction (as
	// rotations and client deletions do): one acknowledged on the demoted
	// server would be lost with it.
	var failed int
	var written, revoked []store.Token
	for i := range 20 {
		var tok store.Token
		var err error
		if i < len(before) {
			// Bounded: a commit on the demoted server would wait for
			// its synchronous standby, which is gone.
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			tok = before[i]
			_, err = s.Revoke(ctx, store.Revocation{Access: &tok.Access})
			cancel()
		} else {
			tok, err = write()
		}
		if err != nil {
			if pe := (*pq.Error)(nil); !errors.As(err, &pe) || pe.Code != "25006" {
				t.Fatalf("write after the demotion: %v, want the demoted server's 25006 at most", err)
			}
			failed++
			continue
		}
		if i < len(before) {
			revoked = append(revoked, tok)
		} else {
			written = append(written, tok)
		}
	}
	if failed > 1 {
		t.Errorf("%d of 20 writes after the demotion failed: the pool handed out connections to the demoted server again", failed)
	}
	newPrimary, err := store.Open(t.Context(), standby.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer newPrimary.Close()
	for _, tok := range written {
		if _, err := newPrimary.TokenByAccess(t.Context(), tok.Access); err != nil {
			t.Fatalf("a write acknowledged after the demotion is not on the new primary: %v", err)
		}
	}
	for _, tok := range revoked {
		if got, err := newPrimary.TokenByAccess(t.Context(), tok.Access); err != nil || !got.Revoked {
			t.Fatalf("a revocation acknowledged after the demotion is not on the new primary: revoked=%v, %v", got.Revoked, err)
		}
	}
	t.Logf("writes after the demotion: %d failed, %d tokens and %d revocations on the new primary", failed, len(written), len(revoked))
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
