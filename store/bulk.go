package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
)

// BulkMax is the most tokens InsertTokens and PresentTokens take in one
// call: one transaction of a few hundred kilobytes, long enough that its
// commit and the staging table cost little per token.
const BulkMax = 2000

// InsertTokens stores the tokens of ts whose access and refresh digests
// are both free, in one transaction, and returns how many it stored: a
// token whose digest is taken (stored before, or rotated since) is
// skipped, not an error, so a bulk load can be run again and stores
// nothing twice. ErrClientGone, storing nothing,
// if a token's client does not exist. It is the bulk path of an import:
// one commit for up to BulkMax tokens instead of one each.
//
// On PostgreSQL the rows go by COPY into a temporary table, then into
// tokens with one INSERT … SELECT … ON CONFLICT DO NOTHING: COPY parses
// rows at a fraction of the cost of a multi-row VALUES list, which
// PostgreSQL parses and plans parameter by parameter.
func (s *sqlStore) InsertTokens(ctx context.Context, ts []Token) (int, error) {
	if len(ts) == 0 {
		return 0, nil
	}
	if len(ts) > BulkMax {
		return 0, fmt.Errorf("store: insert tokens: %d tokens, at most %d a call", len(ts), BulkMax)
	}
	for _, t := range ts {
		if err := checkToken(t); err != nil {
			return 0, err
		}
	}
	if s.wmu != nil { // the embedded store: in process, a statement costs no round trip
		return s.insertTokensOneByOne(ctx, ts)
	}
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		// ON COMMIT DROP: the staging table lives and dies with this
		// transaction, so nothing outlives it on the connection (safe
		// behind pgbouncer in transaction pooling, see PostgresConnector).
		// Its columns are InsertTokenSQL's parameters, not the table's
		// (migration 0005 keeps an owner id and the family id's bytes).
		if _, err := tx.ExecContext(ctx, `CREATE TEMP TABLE tokens_bulk (
    access_digest bytea, refresh_digest bytea, client_id text, service_id text,
    authenticated_userid text, scope text, issued_at bigint, expires_in bigint,
    refresh_expires_at bigint, family_id text, revoked boolean, purge_after bigint
) ON COMMIT DROP`); err != nil {
			return fmt.Errorf("store: insert tokens: %w", err)
		}
		cols := bulkColumns()
		list := strings.Join(cols, ", ")
		// lib/pq turns a prepared COPY … FROM STDIN into a copy-in: one
		// Exec per row, an empty Exec to finish.
		st, err := tx.PrepareContext(ctx, `COPY tokens_bulk (`+list+`) FROM STDIN`)
		if err != nil {
			return fmt.Errorf("store: insert tokens: %w", err)
		}
		for _, t := range ts {
			if _, err := st.ExecContext(ctx, tokenArgs(t)...); err != nil {
				st.Close()
				return fmt.Errorf("store: insert tokens: %w", err)
			}
		}
		if _, err := st.ExecContext(ctx); err != nil {
			st.Close()
			return fmt.Errorf("store: insert tokens: %w", err)
		}
		if err := st.Close(); err != nil {
			return fmt.Errorf("store: insert tokens: %w", err)
		}
		// The owner is joined; a pair without one yet gets it from
		// token_owner_id (once: the next rows find it), which fails with
		// foreign_key_violation if the client does not exist.
		res, err := tx.ExecContext(ctx, pgInsertInto+`
SELECT b.access_digest, b.refresh_digest, COALESCE(o.id, token_owner_id(b.client_id, b.service_id)),
    b.authenticated_userid, b.scope, b.issued_at, b.expires_in, b.refresh_expires_at,
    token_family_in(b.family_id), b.revoked, b.purge_after
FROM tokens_bulk b LEFT JOIN token_owners o ON o.client_id = b.client_id AND o.service_id = COALESCE(b.service_id, '')
ON CONFLICT DO NOTHING`)
		if err != nil {
			if isForeignKeyViolation(err) {
				return ErrClientGone
			}
			return fmt.Errorf("store: insert tokens: %w", err)
		}
		n, err = res.RowsAffected()
		if err != nil {
			return fmt.Errorf("store: insert tokens: %w", err)
		}
		return nil
	})
	return int(n), err
}

// bulkColumns are InsertTokenSQL's parameters, named as the columns of
// the embedded store's table, in order.
func bulkColumns() []string {
	var cols []string
	for c := range strings.SplitSeq(tokenColumns+", purge_after", ",") {
		cols = append(cols, strings.TrimSpace(c))
	}
	return cols
}

// insertTokensOneByOne is InsertTokens for the embedded store, where a
// statement costs no round trip: one prepared single-row INSERT run per
// token, all in one transaction (the driver binds a statement's
// parameters in time growing with their square, so a 24,000-parameter
// statement would be the slow way).
func (s *sqlStore) insertTokensOneByOne(ctx context.Context, ts []Token) (int, error) {
	n := 0
	err := s.write(ctx, func(tx *sql.Tx) error {
		n = 0
		st, err := tx.PrepareContext(ctx, s.d.tok.insertOne)
		if err != nil {
			return fmt.Errorf("store: insert tokens: %w", err)
		}
		defer st.Close()
		for _, t := range ts {
			res, err := st.ExecContext(ctx, tokenArgs(t)...)
			if err != nil {
				if isForeignKeyViolation(err) {
					return ErrClientGone
				}
				return fmt.Errorf("store: insert tokens: %w", err)
			}
			m, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("store: insert tokens: %w", err)
			}
			n += int(m)
		}
		return nil
	})
	return n, err
}

// PresentTokens returns, for each token of ts, whether its access or its
// refresh digest is already stored: what InsertTokens would skip.
func (s *sqlStore) PresentTokens(ctx context.Context, ts []Token) ([]bool, error) {
	if len(ts) > BulkMax {
		return nil, fmt.Errorf("store: look up tokens: %d tokens, at most %d a call", len(ts), BulkMax)
	}
	present := make([]bool, 0, len(ts))
	// Chunks of presentChunk: SQLite's driver binds parameters in time
	// growing with the square of their number.
	for len(ts) > 0 {
		chunk := ts[:min(len(ts), presentChunk)]
		ts = ts[len(chunk):]
		p, err := s.presentTokens(ctx, chunk)
		if err != nil {
			return nil, err
		}
		present = append(present, p...)
	}
	return present, nil
}

const presentChunk = 250

func (s *sqlStore) presentTokens(ctx context.Context, ts []Token) ([]bool, error) {
	present := make([]bool, len(ts))
	var access, refresh []any
	for _, t := range ts {
		access = append(access, t.Access[:])
		if t.Refresh != nil {
			refresh = append(refresh, t.Refresh[:])
		}
	}
	q := `SELECT access_digest, refresh_digest FROM tokens WHERE access_digest IN (` + placeholders(1, len(access)) + `)`
	if len(refresh) > 0 {
		q += ` OR refresh_digest IN (` + placeholders(len(access)+1, len(refresh)) + `)`
	}
	rows, err := s.db.QueryContext(ctx, q, append(access, refresh...)...)
	if err != nil {
		return nil, fmt.Errorf("store: look up tokens: %w", err)
	}
	defer rows.Close()
	taken := map[Digest]bool{}
	for rows.Next() {
		var a, r []byte
		if err := rows.Scan(&a, &r); err != nil {
			return nil, fmt.Errorf("store: look up tokens: %w", err)
		}
		for _, b := range [][]byte{a, r} {
			if d, err := digestFrom(b); err == nil {
				taken[d] = true
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: look up tokens: %w", err)
	}
	for i, t := range ts {
		present[i] = taken[t.Access] || (t.Refresh != nil && taken[*t.Refresh])
	}
	return present, nil
}

// placeholders is "$from,…,$(from+n-1)".
func placeholders(from, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(from + i))
	}
	return b.String()
}
