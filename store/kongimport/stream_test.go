package kongimport_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"

	"github.com/oauth2-password/oauth2-password/store"
	"github.com/oauth2-password/oauth2-password/store/kongimport"
	"github.com/oauth2-password/oauth2-password/store/kongimport/kongtest"
)

// manyTokens is a Kong 3.9 database whose one client "web" has n live
// password-grant tokens (access md5('a'||i), refresh md5('r'||i)), written
// in one statement.
func manyTokens(t *testing.T, n int) *kongtest.Kong {
	t.Helper()
	k := kongtest.New(t, pg.NewDatabase(t))
	consumer, cred := kongtest.UUID(), kongtest.UUID()
	k.Consumer(consumer, "alice")
	k.Credential(kongtest.Credential{ID: cred, ConsumerID: consumer, Name: "web", ClientID: "web", Secret: "secret123"})
	_, err := k.DB.Exec(`INSERT INTO oauth2_tokens (id, created_at, credential_id, access_token, refresh_token,
  token_type, expires_in, authenticated_userid, scope, ttl, ws_id)
SELECT gen_random_uuid(), now(), $1, md5('a' || i), md5('r' || i), 'bearer', 7200, 'user-' || i, 'email',
  now() + interval '14 days', ws_id
FROM generate_series(1, $2) i, oauth2_credentials WHERE oauth2_credentials.id = $1`, cred, n)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func importKong(ctx context.Context, t *testing.T, s kongimport.Store, k *kongtest.Kong, opt kongimport.Options) (kongimport.Report, error) {
	t.Helper()
	src, err := kongimport.ReadDatabase(ctx, k.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	return kongimport.Import(ctx, s, src, opt)
}

func countTokens(t *testing.T, s bulkStore) int {
	t.Helper()
	var n int
	if err := s.(interface{ DB() *sql.DB }).DB().QueryRow(`SELECT count(*) FROM tokens`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestImportStreams: Kong's tokens are read and written a batch at a time
// (progress after every batch), into PostgreSQL and the embedded store; a
// dry run counts them without writing; each token is found by the digest
// of its plaintext.
func TestImportStreams(t *testing.T) {
	const n, batch = 1050, 100
	k := manyTokens(t, n)
	for _, tc := range []struct {
		name string
		open func(t *testing.T) bulkStore
	}{
		{"postgres", func(t *testing.T) bulkStore { return openURL(t, pg.NewDatabase(t)) }},
		{"sqlite", openStore},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.open(t)
			rep, err := importKong(t.Context(), t, s, k, kongimport.Options{DryRun: true, Batch: batch})
			if err != nil {
				t.Fatal(err)
			}
			wantCounts(t, rep, kongimport.Counts{Imported: 1}, kongimport.Counts{Imported: n})
			if got := countTokens(t, s); got != 0 {
				t.Fatalf("--dry-run stored %d tokens", got)
			}

			var seen []int
			rep, err = importKong(t.Context(), t, s, k, kongimport.Options{Batch: batch, Progress: func(done int) { seen = append(seen, done) }})
			if err != nil {
				t.Fatal(err)
			}
			wantCounts(t, rep, kongimport.Counts{Imported: 1}, kongimport.Counts{Imported: n})
			if len(seen) != (n+batch-1)/batch || seen[0] != batch || seen[len(seen)-1] != n {
				t.Errorf("progress %v, want one call per batch of %d up to %d", seen, batch, n)
			}
			if got := countTokens(t, s); got != n {
				t.Errorf("the store holds %d tokens, want %d", got, n)
			}
			for _, i := range []int{1, n / 2, n} {
				tok, err := s.TokenByAccess(t.Context(), store.DigestOf(md5hex(t, k, fmt.Sprintf("a%d", i))))
				if err != nil || tok.AuthenticatedUserID != fmt.Sprintf("user-%d", i) || tok.Refresh == nil ||
					*tok.Refresh != store.DigestOf(md5hex(t, k, fmt.Sprintf("r%d", i))) {
					t.Errorf("token %d: %+v, %v", i, tok, err)
				}
			}
		})
	}
}

// TestImportResumes: an import interrupted after some batches (Ctrl-C, a
// lost connection) leaves those batches stored, whole; running it again stores
// the rest, each token once; a third run stores nothing.
func TestImportResumes(t *testing.T) {
	const n, batch = 1050, 100
	k := manyTokens(t, n)
	s := openURL(t, pg.NewDatabase(t))

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	_, err := importKong(ctx, t, s, k, kongimport.Options{Batch: batch, Progress: func(done int) {
		if done == 3*batch {
			cancel() // the fourth batch's write fails
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted import: %v, want context.Canceled", err)
	}
	// Batches are written in parallel: those in flight at the
	// interruption may have committed too, whole.
	stored := countTokens(t, s)
	if stored < 3*batch || stored >= n || stored%batch != 0 {
		t.Fatalf("after the interruption the store holds %d tokens, want whole batches of %d, at least the 3 done", stored, batch)
	}

	rep, err := importKong(t.Context(), t, s, k, kongimport.Options{Batch: batch})
	if err != nil {
		t.Fatal(err)
	}
	wantCounts(t, rep, kongimport.Counts{Skipped: 1}, kongimport.Counts{Imported: n - stored, Skipped: stored})
	rep, err = importKong(t.Context(), t, s, k, kongimport.Options{Batch: batch})
	if err != nil {
		t.Fatal(err)
	}
	wantCounts(t, rep, kongimport.Counts{Skipped: 1}, kongimport.Counts{Skipped: n})
	if got := countTokens(t, s); got != n {
		t.Errorf("the store holds %d tokens, want %d", got, n)
	}
}

func md5hex(t *testing.T, k *kongtest.Kong, s string) string {
	t.Helper()
	var h string
	if err := k.DB.QueryRow(`SELECT md5($1)`, s).Scan(&h); err != nil {
		t.Fatal(err)
	}
	return h
}

// cancelledWrites is a store whose second batch write finds the caller
// gone, and fails as lib/pq does when its cancel request wins the race
// with the context: with the server's error, not the context's.
type cancelledWrites struct {
	kongimport.Store
	cancel context.CancelFunc
	writes int
}

func (s *cancelledWrites) InsertTokens(ctx context.Context, ts []store.Token) (int, error) {
	s.writes++
	if s.writes < 2 {
		return s.Store.InsertTokens(ctx, ts)
	}
	s.cancel()
	return 0, errors.New("store: insert tokens: pq: canceling statement due to user request")
}

// TestImportInterruptedSaysSo: an import whose caller gave up (Ctrl-C, the
// command's deadline) reports that, whatever error the statement in
// flight came back with.
func TestImportInterruptedSaysSo(t *testing.T) {
	const n, batch = 300, 100
	k := manyTokens(t, n)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	s := &cancelledWrites{Store: openURL(t, pg.NewDatabase(t)), cancel: cancel}
	_, err := importKong(ctx, t, s, k, kongimport.Options{Batch: batch, Writers: 1})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted import: %v, want context.Canceled", err)
	}
}
