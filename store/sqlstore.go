package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// dialect is what differs between the SQL backends. Everything else, down
// to the placeholders ($1 works in both), is shared by sqlStore.
type dialect struct {
	// purgeTokens deletes at most $2 rows with purge_after < $1, through
	// the physical row id so that the LIMIT needs no sort and no lock on
	// rows it will not delete.
	purgeTokens string
	// purgeChanges deletes at most $2 change-feed entries created before
	// $1, never the newest.
	purgeChanges string
	// forUpdate locks the row read before it is updated ("" where the
	// whole database is already write-locked).
	forUpdate string
	// lockFeed serializes the writers of token_changes until they commit
	// (see addChanges); "" where writers are serialized anyway.
	lockFeed string
	// lockOrder ends the query that locks token rows in the one order
	// every transaction uses (see lockTokens); "" where writers are
	// serialized anyway.
	lockOrder string
	// tok is how the schema stores token rows.
	tok tokenSQL
	// notify, when set, also announces every change-feed write to the
	// processes listening (see notifyChanges).
	notify bool
}

// sqlStore implements Store over database/sql. Postgres and SQLite embed
// it and add their own Open and Migrate.
type sqlStore struct {
	db *sql.DB
	d  dialect
	// wmu, when not nil, lets one write transaction of this process run
	// at a time. SQLite allows one writer per file anyway; queueing here
	// (honouring ctx) is fairer and faster than every connection spinning
	// in SQLite's busy handler.
	wmu chan struct{}
	// batch, when not nil, groups concurrent CreateToken calls into one
	// statement and commit (see batch.go).
	batch *tokenBatcher
	// owners, on PostgreSQL, resolves the owner ids of token rows.
	owners *ownerCache
}

// newSQLStore is a store over db with group commit by writers writers.
func newSQLStore(db *sql.DB, d dialect, wmu chan struct{}, writers int) *sqlStore {
	s := &sqlStore{db: db, d: d, wmu: wmu}
	if d.tok.owners {
		s.owners = &ownerCache{}
	}
	s.batch = newTokenBatcher(s, writers)
	return s
}

// DB returns the underlying database handle, for tests and tools that
// inspect the schema.
func (s *sqlStore) DB() *sql.DB { return s.db }

// Close closes the database handle.
// Close answers the token writes under way, then closes the database
// handle.
func (s *sqlStore) Close() error {
	if s.batch != nil {
		s.batch.stop()
	}
	return s.db.Close()
}

// queueWriter waits for this process's turn to write (SQLite; a no-op
// where the database serializes writers itself) and returns the function
// that gives the turn back.
func (s *sqlStore) queueWriter(ctx context.Context) (release func(), err error) {
	if s.wmu == nil {
		return func() {}, nil
	}
	select {
	case s.wmu <- struct{}{}:
		return func() { <-s.wmu }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// write runs fn in one read-write transaction and commits it.
func (s *sqlStore) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	release, err := s.queueWriter(ctx)
	if err != nil {
		return err
	}
	defer release()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// addChanges appends change-feed entries; a nil digest means "flush
// everything". It must be the last statement of its transaction.
//
// A reader of the feed remembers the newest seq it saw and later asks for
// anything after it. That is only sound if seq order is commit order;
// with a PostgreSQL sequence it is not (a transaction can take seq 10,
// another seq 11 and commit first, and a reader that saw 11 would never see
// 10). lockFeed makes concurrent writers take seq values and commit one at
// a time. The lock is held only from here to COMMIT.
func (s *sqlStore) addChanges(ctx context.Context, tx *sql.Tx, digests []*Digest) error {
	if len(digests) == 0 {
		return nil
	}
	if s.d.lockFeed != "" {
		if _, err := tx.ExecContext(ctx, s.d.lockFeed); err != nil {
			return fmt.Errorf("store: lock change feed: %w", err)
		}
	}
	now := time.Now().Unix()
	for _, d := range digests {
		var v any // NULL
		if d != nil {
			v = d[:]
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO token_changes (access_digest, created_at) VALUES ($1, $2)`, v, now); err != nil {
			return fmt.Errorf("store: write change feed: %w", err)
		}
	}
	if s.d.notify {
		if _, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, NotifyChannel, notifyPayload(digests)); err != nil {
			return fmt.Errorf("store: notify change: %w", err)
		}
	}
	return nil
}

// changesPage bounds one Changes answer; Cached asks again while pages are
// full.
const changesPage = 1000

// Changes implements Store.
func (s *sqlStore) Changes(ctx context.Context, after int64) ([]Change, int64, error) {
	if after < 0 {
		var max int64
		err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM token_changes`).Scan(&max)
		if err != nil {
			return nil, 0, fmt.Errorf("store: read change feed: %w", err)
		}
		return nil, max, nil
	}
	rows, err := s.db.QueryContext(ctx,
		`SELECT seq, access_digest FROM token_changes WHERE seq > $1 ORDER BY seq LIMIT $2`, after, changesPage)
	if err != nil {
		return nil, 0, fmt.Errorf("store: read change feed: %w", err)
	}
	defer rows.Close()
	var out []Change
	newest := after
	for rows.Next() {
		var (
			c Change
			b []byte
		)
		if err := rows.Scan(&c.Seq, &b); err != nil {
			return nil, 0, fmt.Errorf("store: read change feed: %w", err)
		}
		if b != nil {
			d, err := digestFrom(b)
			if err != nil {
				return nil, 0, err
			}
			c.Access = &d
		}
		out = append(out, c)
		newest = c.Seq
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("store: read change feed: %w", err)
	}
	return out, newest, nil
}

// PurgeExpired implements Store. It also drops change-feed entries older
// than changeRetention, always keeping the newest so that Changes(-1) never
// goes backwards.
func (s *sqlStore) PurgeExpired(ctx context.Context, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	var n, changes int64
	cutoff := now.Add(-changeRetention).Unix()
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.d.purgeTokens, now.Unix(), limit)
		if err != nil {
			return fmt.Errorf("store: purge tokens: %w", err)
		}
		if n, err = res.RowsAffected(); err != nil {
			return fmt.Errorf("store: purge tokens: %w", err)
		}
		changes, err = s.purgeChanges(ctx, tx, cutoff, limit)
		return err
	})
	if err != nil {
		return 0, err
	}
	// The feed can gain more rows than tokens die (a rotation or a
	// revocation adds a row, no token): while its batches are full it is
	// trimmed on, one short transaction a batch, so that it never grows
	// past what one batch per interval keeps up with.
	for changes == int64(limit) {
		select {
		case <-ctx.Done():
			return int(n), nil
		case <-time.After(purgePause):
		}
		if err := s.write(ctx, func(tx *sql.Tx) error {
			changes, err = s.purgeChanges(ctx, tx, cutoff, limit)
			return err
		}); err != nil {
			return int(n), err
		}
	}
	return int(n), nil
}

// purgeChanges deletes at most limit change-feed entries created before
// cutoff (never the newest) and returns how many it deleted.
func (s *sqlStore) purgeChanges(ctx context.Context, tx *sql.Tx, cutoff int64, limit int) (int64, error) {
	res, err := tx.ExecContext(ctx, s.d.purgeChanges, cutoff, limit)
	if err != nil {
		return 0, fmt.Errorf("store: purge change feed: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: purge change feed: %w", err)
	}
	return n, nil
}

// changeRetention is how long change-feed entries are kept. It must exceed
// the longest a cache can hold an entry (CacheOptions.MaxTTL, 10 minutes by
// default): a cache that could not read the feed for longer than that has
// nothing left that an entry it missed could concern.
const changeRetention = time.Hour

// digestFrom converts a stored BLOB/bytea to a Digest.
func digestFrom(b []byte) (Digest, error) {
	var d Digest
	if len(b) != len(d) {
		return d, fmt.Errorf("store: stored digest has %d bytes, want %d", len(b), len(d))
	}
	copy(d[:], b)
	return d, nil
}

// notFound maps sql.ErrNoRows to ErrNotFound.
func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return fmt.Errorf("store: %s: %w", what, err)
}
