package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
)

// BulkMax is the most tokens InsertTokens and PresentTokens take in one
// call: 12 parameters a row stay far below PostgreSQL's 65,535 and
// SQLite's 32,766 bound parameters per statement.
const BulkMax = 2000

// tokenRow is t as the parameters of InsertTokenSQL, in its order.
func tokenRow(t Token) []any {
	var refresh, service any // NULL
	if t.Refresh != nil {
		refresh = t.Refresh[:]
	}
	if t.ServiceID != "" {
		service = t.ServiceID
	}
	return []any{t.Access[:], refresh, t.ClientID, service, t.AuthenticatedUserID, t.Scope,
		t.IssuedAt.Unix(), t.ExpiresIn, nullTime(t.RefreshExpiresAt), t.FamilyID, t.Revoked,
		purgeAfter(t.IssuedAt, t.ExpiresIn, t.Refresh != nil, t.RefreshExpiresAt)}
}

// InsertTokens stores the tokens of ts whose access and refresh digests
// are both free, in one multi-row statement and one transaction, and
// returns how many it stored: a token whose digest is taken (stored
// before, or rotated since) is skipped, not an error, so a bulk load can
// be run again and stores nothing twice. ErrClientGone, storing nothing,
// if a token's client does not exist. It is the bulk path of an import:
// one commit for up to BulkMax tokens instead of one each.
func (s *sqlStore) InsertTokens(ctx context.Context, ts []Token) (int, error) {
	if len(ts) == 0 {
		return 0, nil
	}
	if len(ts) > BulkMax {
		return 0, fmt.Errorf("store: insert tokens: %d tokens, at most %d a call", len(ts), BulkMax)
	}
	args := make([]any, 0, 12*len(ts))
	var q strings.Builder
	q.WriteString(`INSERT INTO tokens (` + tokenColumns + `, purge_after) VALUES `)
	for i, t := range ts {
		if err := checkToken(t); err != nil {
			return 0, err
		}
		if i > 0 {
			q.WriteByte(',')
		}
		row := tokenRow(t)
		q.WriteByte('(')
		for j := range row {
			if j > 0 {
				q.WriteByte(',')
			}
			q.WriteByte('$')
			q.WriteString(strconv.Itoa(len(args) + j + 1))
		}
		q.WriteByte(')')
		args = append(args, row...)
	}
	q.WriteString(` ON CONFLICT DO NOTHING`)
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, q.String(), args...)
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

// PresentTokens returns, for each token of ts, whether its access or its
// refresh digest is already stored: what InsertTokens would skip.
func (s *sqlStore) PresentTokens(ctx context.Context, ts []Token) ([]bool, error) {
	if len(ts) > BulkMax {
		return nil, fmt.Errorf("store: look up tokens: %d tokens, at most %d a call", len(ts), BulkMax)
	}
	present := make([]bool, len(ts))
	var access, refresh []any
	for _, t := range ts {
		access = append(access, t.Access[:])
		if t.Refresh != nil {
			refresh = append(refresh, t.Refresh[:])
		}
	}
	if len(ts) == 0 {
		return present, nil
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
