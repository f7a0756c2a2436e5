// Command pgbytes measures what a token costs at rest in PostgreSQL, per
// relation (table and each index, pg_table_size / pg_relation_size ÷
// rows), before and after migration 0005, and what a cache-miss lookup by
// access digest costs in each schema:
//
//	go run ./tests/pgbytes -n 1e6
//
// It starts a throwaway server (store/pgtest) and, in one database, loads
// n tokens at schema 0004, measures, applies 0005 (timed), measures again;
// then, in a second database at the latest schema, loads n tokens the way
// issuance grows the table (rows in random order, 10^5 a statement, the
// hash indexes split as they go) and measures: that last line is the
// number the goal is about. Tokens are shaped like the plugin's: two
// random 32-byte digests, a 17-character client id, a 36-character service
// id, a 32-hex family id, a user id shared by 5 tokens, a refresh token
// with an expiry.
package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/oauth2-password/oauth2-password/store"
	"github.com/oauth2-password/oauth2-password/store/pgtest"
)

const (
	clientID  = "client-0123456789"
	serviceID = "5c1b8a3e-0d5b-4a53-9a55-6b0f3c8e2d11"
	chunk     = 100_000
)

func main() {
	nFlag := flag.String("n", "1e6", "tokens to load")
	lookups := flag.Int("lookups", 10000, "random lookups by access digest per schema")
	latestOnly := flag.Bool("latest-only", false, "load and measure the latest schema only (no 0004, no lookups, no migration)")
	flag.Parse()
	f, err := strconv.ParseFloat(*nFlag, 64)
	if err != nil || f < 1 {
		fmt.Fprintln(os.Stderr, "pgbytes: -n wants a positive number, e.g. 1e6")
		os.Exit(2)
	}
	if *latestOnly {
		err = runLatest(context.Background(), int(f))
	} else {
		err = run(context.Background(), int(f), *lookups)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgbytes:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, n, lookups int) error {
	srv, err := pgtest.New()
	if err != nil {
		return err
	}
	defer srv.Close()

	// A: schema 0004 (migrated to 0005 at the end).
	p, err := store.OpenPostgres(ctx, srv.URL())
	if err != nil {
		return err
	}
	defer p.Close()
	if err := p.MigrateTo(ctx, 4); err != nil {
		return err
	}
	if err := p.CreateClient(ctx, store.Client{ID: clientID, Consumer: "c", Type: store.Public, RedirectURIs: []string{}}); err != nil {
		return err
	}
	fmt.Printf("loading %d tokens at schema 0004\n", n)
	start := time.Now()
	if err := load(ctx, p.DB(), n, false); err != nil {
		return err
	}
	fmt.Printf("  loaded in %s\n", time.Since(start).Round(time.Second))
	if err := sizes(ctx, p.DB(), "0004"); err != nil {
		return err
	}

	// B: the latest schema, grown by inserts.
	fresh, err := newDatabase(ctx, srv.AdminURL(), srv.URL())
	if err != nil {
		return err
	}
	q, err := store.Open(ctx, fresh)
	if err != nil {
		return err
	}
	defer q.Close()
	if err := q.CreateClient(ctx, store.Client{ID: clientID, Consumer: "c", Type: store.Public, RedirectURIs: []string{}}); err != nil {
		return err
	}
	db := q.(interface{ DB() *sql.DB }).DB()
	fmt.Printf("loading %d tokens at the latest schema\n", n)
	start = time.Now()
	if err := load(ctx, db, n, true); err != nil {
		return err
	}
	fmt.Printf("  loaded in %s\n", time.Since(start).Round(time.Second))
	if err := sizes(ctx, db, "latest, grown by inserts"); err != nil {
		return err
	}
	if err := explain(ctx, db); err != nil {
		return err
	}

	// Lookups, alternating between the two in rounds, so that both see
	// the same machine.
	old := func(d store.Digest) error {
		var a []byte
		return p.DB().QueryRowContext(ctx, `SELECT access_digest, refresh_digest, client_id, service_id, authenticated_userid, scope,
issued_at, expires_in, refresh_expires_at, family_id, revoked FROM tokens WHERE access_digest = $1`, d[:]).
			Scan(&a, new([]byte), new(string), new(sql.NullString), new(string), new(string), new(int64), new(int64), new(sql.NullInt64), new(string), new(bool))
	}
	cur := func(d store.Digest) error {
		t, err := q.TokenByAccess(ctx, d)
		if err == nil && (t.ClientID != clientID || t.ServiceID != serviceID || len(t.FamilyID) != 32) {
			err = fmt.Errorf("token read back as %+v", t)
		}
		return err
	}
	var latOld, latCur []time.Duration
	const rounds = 10
	for range rounds {
		if latOld, err = lookup(n, lookups/rounds, old, latOld); err != nil {
			return err
		}
		if latCur, err = lookup(n, lookups/rounds, cur, latCur); err != nil {
			return err
		}
	}
	report("0004, its SELECT", latOld)
	report("latest, store.TokenByAccess", latCur)

	start = time.Now()
	if err := p.Migrate(ctx); err != nil {
		return err
	}
	fmt.Printf("migration 0005 in place at %d tokens: %s\n", n, time.Since(start).Round(time.Millisecond))
	if err := sizes(ctx, p.DB(), "0005, migrated in place from 0004 (indexes built after the rows)"); err != nil {
		return err
	}
	_, err = lookup(n, 100, func(d store.Digest) error {
		_, err := p.TokenByAccess(ctx, d)
		return err
	}, nil)
	return err
}

// runLatest loads n tokens at the latest schema and measures them.
func runLatest(ctx context.Context, n int) error {
	srv, err := pgtest.New()
	if err != nil {
		return err
	}
	defer srv.Close()
	q, err := store.Open(ctx, srv.URL())
	if err != nil {
		return err
	}
	defer q.Close()
	if err := q.CreateClient(ctx, store.Client{ID: clientID, Consumer: "c", Type: store.Public, RedirectURIs: []string{}}); err != nil {
		return err
	}
	db := q.(interface{ DB() *sql.DB }).DB()
	fmt.Printf("loading %d tokens at the latest schema\n", n)
	start := time.Now()
	if err := load(ctx, db, n, true); err != nil {
		return err
	}
	fmt.Printf("  loaded in %s\n", time.Since(start).Round(time.Second))
	if err := sizes(ctx, db, "latest, grown by inserts"); err != nil {
		return err
	}
	_, err = lookup(n, 100, func(d store.Digest) error {
		_, err := q.TokenByAccess(ctx, d)
		return err
	}, nil)
	return err
}

// load inserts tokens 0..n-1, chunk rows a statement, each chunk in random
// order (as issuance inserts them).
func load(ctx context.Context, db *sql.DB, n int, latest bool) error {
	// Token g: access sha256(int8send(g)), refresh sha256(int8send(-g-1)),
	// family md5(g), user g/5.
	const rows = `FROM generate_series($1::bigint, $2::bigint) g ORDER BY random()`
	q := `INSERT INTO tokens (access_digest, refresh_digest, client_id, service_id, authenticated_userid, scope,
issued_at, expires_in, refresh_expires_at, family_id, revoked, purge_after)
SELECT sha256(int8send(g)), sha256(int8send(-g-1)), $3, $4, 'user-' || (g / 5), 'read',
    $5::bigint, 7200, $5::bigint + 1209600, md5(g::text), false, $5::bigint + 1209600 ` + rows
	if latest {
		q = `INSERT INTO tokens (access_digest, refresh_digest, owner_id, authenticated_userid, scope,
issued_at, expires_in, refresh_expires_at, family_id, revoked, purge_after)
SELECT sha256(int8send(g)), sha256(int8send(-g-1)), token_owner_id($3, $4), 'user-' || (g / 5), 'read',
    $5::bigint, 7200, $5::bigint + 1209600, token_family_in(md5(g::text)), false, $5::bigint + 1209600 ` + rows
	}
	now := time.Now().Unix()
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n) - 1
		if _, err := db.ExecContext(ctx, q, lo, hi, clientID, serviceID, now); err != nil {
			return fmt.Errorf("load: %w", err)
		}
	}
	return nil
}

// sizes prints bytes per token of tokens and each of its indexes, and of
// token_owners where it exists.
func sizes(ctx context.Context, db *sql.DB, label string) error {
	if _, err := db.ExecContext(ctx, `VACUUM ANALYZE tokens`); err != nil {
		return err
	}
	var rows float64
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM tokens`).Scan(&rows); err != nil {
		return err
	}
	r, err := db.QueryContext(ctx, `SELECT 'table tokens', pg_table_size('tokens')
UNION ALL SELECT 'index ' || c.relname, pg_relation_size(c.oid)
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = 'tokens'::regclass
UNION ALL SELECT 'table token_owners (+ indexes)', pg_total_relation_size(oid) FROM pg_class WHERE relname = 'token_owners'
UNION ALL SELECT 'total pg_total_relation_size(tokens)', pg_total_relation_size('tokens')`)
	if err != nil {
		return err
	}
	defer r.Close()
	fmt.Printf("bytes per token, %s (%.0f rows):\n", label, rows)
	for r.Next() {
		var name string
		var b float64
		if err := r.Scan(&name, &b); err != nil {
			return err
		}
		fmt.Printf("  %-45s %7.1f\n", name, b/rows)
	}
	return r.Err()
}

// accessOf is token g's access digest (load's sha256(int8send(g))).
func accessOf(g int) store.Digest {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(g))
	return sha256.Sum256(b[:])
}

// lookup appends the latencies of count lookups of random tokens to lat.
func lookup(n, count int, fn func(store.Digest) error, lat []time.Duration) ([]time.Duration, error) {
	for range count {
		d := accessOf(rand.IntN(n))
		start := time.Now()
		if err := fn(d); err != nil {
			return nil, fmt.Errorf("lookup: %w", err)
		}
		lat = append(lat, time.Since(start))
	}
	return lat, nil
}

func report(label string, lat []time.Duration) {
	slices.Sort(lat)
	fmt.Printf("lookup by access digest, %s, %d random tokens: p50 %s, p99 %s\n", label, len(lat),
		lat[len(lat)/2].Round(time.Microsecond), lat[len(lat)*99/100].Round(time.Microsecond))
}

// explain prints the plan of the store's lookup by access digest.
func explain(ctx context.Context, db *sql.DB) error {
	d := accessOf(1)
	r, err := db.QueryContext(ctx, `EXPLAIN SELECT access_digest, refresh_digest, owner_id, '', authenticated_userid, scope,
issued_at, expires_in, refresh_expires_at, family_id, revoked FROM tokens WHERE access_digest = $1`, d[:])
	if err != nil {
		return err
	}
	defer r.Close()
	fmt.Println("EXPLAIN of the lookup by access digest (store.TokenByAccess's statement):")
	for r.Next() {
		var line string
		if err := r.Scan(&line); err != nil {
			return err
		}
		fmt.Println("  " + line)
	}
	return r.Err()
}

// newDatabase creates a database beside the one of like and returns its
// URL.
func newDatabase(ctx context.Context, admin, like string) (string, error) {
	db, err := sql.Open("postgres", admin)
	if err != nil {
		return "", err
	}
	defer db.Close()
	name := fmt.Sprintf("pgbytes_%d", time.Now().UnixNano())
	if _, err := db.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		return "", err
	}
	u, err := url.Parse(like)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}
