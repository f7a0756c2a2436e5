package store_test

import (
	"context"
	"database/sql"
	"sync"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/store"
)

// expiredToken is a token of client "c" dead since an hour (no refresh
// token, access expired).
func expiredToken(t *testing.T) store.Token {
	tok := batchToken(t, "c")
	tok.Refresh, tok.IssuedAt = nil, time.Now().Add(-2*time.Hour)
	return tok
}

func createTokens(t *testing.T, s store.Store, n int, mk func(*testing.T) store.Token) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				if err := s.CreateToken(t.Context(), mk(t)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func countExpired(t *testing.T, db *sql.DB) int {
	var n int
	if err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM tokens WHERE purge_after < $1`, time.Now().Unix()).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPurgeSeveralNodes: two processes purge one PostgreSQL database at
// once. A node never waits for rows another node's batch holds (it skips
// them), both finish without an error (no deadlock, no serialization
// failure), and every dead row is deleted.
func TestPurgeSeveralNodes(t *testing.T) {
	url := pg.NewDatabase(t)
	var nodes [2]store.Store
	for i := range nodes {
		s, err := store.Open(t.Context(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		nodes[i] = s
	}
	if err := nodes[0].CreateClient(t.Context(), store.Client{ID: "c", Consumer: "x", Type: store.Public}); err != nil {
		t.Fatal(err)
	}
	db := nodes[0].(*store.Postgres).DB()

	// Node A's batch is under way: it holds 100 dead rows.
	createTokens(t, nodes[0], 1000, expiredToken)
	tx, err := db.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(t.Context(), `SELECT 1 FROM tokens WHERE purge_after < $1 LIMIT 100 FOR UPDATE`, time.Now().Unix()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	n, err := nodes[1].PurgeExpired(ctx, time.Now(), 10_000)
	cancel()
	if err != nil || n != 900 {
		t.Errorf("node B's purge beside node A's batch = %d, %v; want the 900 rows A does not hold, at once", n, err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}

	// Both purge a backlog in small batches at the same time.
	createTokens(t, nodes[0], 3000, expiredToken)
	var (
		wg    sync.WaitGroup
		total [2]int
		errs  [2]error
	)
	for i, s := range nodes {
		wg.Go(func() {
			for {
				n, err := s.PurgeExpired(t.Context(), time.Now(), 100)
				total[i] += n
				if err != nil || n == 0 {
					errs[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("node %d: %v", i, err)
		}
	}
	if sum := total[0] + total[1]; sum != 3100 {
		t.Errorf("nodes deleted %d + %d rows, want 3100 between them", total[0], total[1])
	}
	t.Logf("nodes deleted %d + %d rows", total[0], total[1])
	if left := countExpired(t, db); left != 0 {
		t.Errorf("%d dead rows left", left)
	}
}

// TestPurgeKeepsUpWithChurn: tokens living 2 seconds are issued steadily
// while RunPurger runs; the table holds about the live tokens, not every
// token issued.
func TestPurgeKeepsUpWithChurn(t *testing.T) {
	s := openPostgres(t)
	if err := s.CreateClient(t.Context(), store.Client{ID: "c", Consumer: "x", Type: store.Public}); err != nil {
		t.Fatal(err)
	}
	db := s.(*store.Postgres).DB()
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	wg.Go(func() { store.RunPurger(ctx, s, 100*time.Millisecond, 1000, nil, nil) })
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			tick := time.NewTicker(5 * time.Millisecond) // about 800 tokens/s in all
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				tok := batchToken(t, "c")
				tok.Refresh, tok.ExpiresIn, tok.IssuedAt = nil, 2, time.Unix(time.Now().Unix(), 0)
				if err := s.CreateToken(ctx, tok); err != nil && ctx.Err() == nil {
					errs <- err
					return
				}
			}
		})
	}
	const (
		churn   = 6 * time.Second
		warmUp  = 3 * time.Second // a lifetime and a purge, then measure
		samples = 12
	)
	time.Sleep(warmUp)
	var sumRatio float64
	tick := time.NewTicker((churn - warmUp) / samples)
	defer tick.Stop()
	issued := 0
	for i := range samples {
		<-tick.C
		var total, live int
		// Live: not yet purgeable (purge_after >= now, the purge's own
		// test), counted in the same statement as the whole table.
		if err := db.QueryRowContext(t.Context(), `SELECT count(*), count(*) FILTER (WHERE purge_after >= $1) FROM tokens`,
			time.Now().Unix()).Scan(&total, &live); err != nil {
			t.Fatal(err)
		}
		if live == 0 {
			t.Fatalf("sample %d: no live token: the churn is not running", i)
		}
		sumRatio += float64(total) / float64(live)
		issued = max(issued, total)
	}
	cancel()
	select {
	case err := <-errs:
		t.Fatalf("issuing: %v", err)
	default:
	}
	var ever int64
	if err := db.QueryRowContext(t.Context(), `SELECT n_tup_ins FROM pg_stat_user_tables WHERE relname = 'tokens'`).Scan(&ever); err != nil {
		t.Fatal(err)
	}
	mean := sumRatio / samples
	t.Logf("table/live tokens: %.2f on average over %d samples (at most %d rows; about %d tokens issued in all)", mean, samples, issued, ever)
	if mean > 1.2 {
		t.Errorf("the table holds %.2f× the live tokens on average, want ≤ 1.2×", mean)
	}
}

// TestPurgeTrimsFeedBacklog: change-feed entries past their retention are
// all trimmed by one purge, in batches, even with no token to purge (a
// rotation or revocation adds an entry and no dead token): the feed does
// not grow by what one batch per interval leaves behind.
func TestPurgeTrimsFeedBacklog(t *testing.T) {
	url := pg.NewDatabase(t)
	s, err := store.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	db := s.(*store.Postgres).DB()
	old := time.Now().Add(-2 * time.Hour).Unix()
	if _, err := db.ExecContext(t.Context(),
		`INSERT INTO token_changes (access_digest, created_at) SELECT NULL, $1 FROM generate_series(1, 5000)`, old); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PurgeExpired(t.Context(), time.Now(), 1000); err != nil {
		t.Fatal(err)
	}
	var left int
	if err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM token_changes WHERE created_at < $1`, old+1).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left > 1 { // the newest entry is kept
		t.Errorf("%d of 5000 expired change-feed entries left after one purge, want at most the newest", left)
	}
}
