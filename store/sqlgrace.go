package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// RefreshReuse tells a refresh grant presented with an already rotated
// refresh token (the engine's refresh_token_grace_period) when that token
// was first used, and whether its family still holds a token that is not
// revoked. The first use is when the token's successor was issued: the
// oldest other token of the family issued at or after it. A family whose
// every token is revoked (logged out, or revoked for a reuse) is not
// alive, and no retry may revive it.
//
// It reads digests and times only: nothing in the store lets anyone
// rebuild a token already handed out, so a retry gets a new pair.
func (s *sqlStore) RefreshReuse(ctx context.Context, old Digest) (firstUse time.Time, alive bool, err error) {
	var (
		first sql.NullInt64
		live  sql.NullInt64
	)
	err = s.db.QueryRowContext(ctx, `SELECT MIN(f.issued_at), MAX(CASE WHEN f.revoked THEN 0 ELSE 1 END)
FROM tokens t JOIN tokens f ON f.family_id = t.family_id AND f.access_digest <> t.access_digest AND f.issued_at >= t.issued_at
WHERE t.refresh_digest = $1`, old[:]).Scan(&first, &live)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("store: read refresh token family: %w", err)
	}
	if !first.Valid {
		return time.Time{}, false, ErrNotFound
	}
	return time.Unix(first.Int64, 0), live.Int64 == 1, nil
}

// refreshReuser is a store that answers RefreshReuse.
type refreshReuser interface {
	RefreshReuse(ctx context.Context, old Digest) (time.Time, bool, error)
}

// RefreshReuse implements the engine's grace-period lookup through the
// cache: it always reads the store (a retry is rare and must see the
// latest rotation).
func (c *Cached) RefreshReuse(ctx context.Context, old Digest) (time.Time, bool, error) {
	r, ok := c.s.(refreshReuser)
	if !ok {
		return time.Time{}, false, ErrNotFound
	}
	return r.RefreshReuse(ctx, old)
}

func (o observed) RefreshReuse(ctx context.Context, old Digest) (time.Time, bool, error) {
	r, ok := o.s.(refreshReuser)
	if !ok {
		return time.Time{}, false, ErrNotFound
	}
	start := time.Now()
	first, alive, err := r.RefreshReuse(ctx, old)
	o.m.StoreCall(OpTokenByRefresh, time.Since(start), resultOf(err))
	return first, alive, err
}

// RefreshReuse is Cached.RefreshReuse once the store is open.
func (l *Lazy) RefreshReuse(ctx context.Context, old Digest) (time.Time, bool, error) {
	c, err := l.get(ctx)
	if err != nil {
		return time.Time{}, false, err
	}
	return c.RefreshReuse(ctx, old)
}
