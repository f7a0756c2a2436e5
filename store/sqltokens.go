package store

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/lib/pq"
)

const tokenColumns = `access_digest, refresh_digest, client_id, service_id, authenticated_userid, scope,
issued_at, expires_in, refresh_expires_at, family_id, revoked`

// purgeAfter is the unix second after which a token can never be used
// again: both its access token and its refresh token (if any) are expired.
// Invalid means never. PurgeExpired deletes rows with purge_after < now,
// matching Token.AccessExpired (valid while now - issued_at <= expires_in).
func purgeAfter(issuedAt time.Time, expiresIn int64, hasRefresh bool, refreshExpiresAt time.Time) sql.NullInt64 {
	if expiresIn <= 0 {
		return sql.NullInt64{}
	}
	p := issuedAt.Unix() + expiresIn
	if hasRefresh {
		if refreshExpiresAt.IsZero() {
			return sql.NullInt64{}
		}
		p = max(p, refreshExpiresAt.Unix())
	}
	return sql.NullInt64{Int64: p, Valid: true}
}

func nullTime(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.Unix(), Valid: true}
}

func checkToken(t Token) error {
	switch {
	case t.ClientID == "":
		return errors.New("store: token has no client_id")
	case t.FamilyID == "":
		return errors.New("store: token has no family_id")
	case t.IssuedAt.IsZero():
		return errors.New("store: token has no issued_at")
	}
	return nil
}

// InsertTokenSQL is the statement that stores one token row in
// PostgreSQL, exactly as CreateToken runs it (one autocommit statement;
// also used inside the refresh rotation's transaction). Its parameters, in
// order (PgTokenArgs): access digest, refresh digest (NULL for none),
// owner id (token_owners, migration 0005: one per client and service,
// OwnerIDSQL), authenticated userid, scope, issued_at, expires_in,
// refresh_expires_at (NULL = never), family id as stored (FamilyBytes),
// revoked, purge_after (NULL = never); times in unix seconds, digests as
// 32 raw bytes. One row is affected unless a digest is already taken.
// Exported so that the benchmarks' raw loops run the very same SQL.
//
// The owner id and the family bytes are computed in the process, not by
// token_owner_id() and token_family_in() in the statement: those two
// function calls cost PostgreSQL ~25 µs of a lone INSERT's ~100 µs
// server time and ~50 µs per row of a multi-row one (the family id's
// regular expression most of it), measured on a durable server.
const InsertTokenSQL = pgInsertInto + ` VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING`

// OwnerIDSQL returns the owner id of client $1 and service $2 (the empty
// string for none), making the owner on first use; it fails with
// foreign_key_violation if the client does not exist.
const OwnerIDSQL = `SELECT token_owner_id($1, $2)`

// InsertTokenSQLite is InsertTokenSQL for the embedded store. Its schema
// keeps the columns as they are given: its parameters are tokenArgs
// (the client and service ids in place of the owner id, the family id as
// text).
const InsertTokenSQLite = sqliteInsertInto + ` VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING`

const (
	pgInsertInto = `INSERT INTO tokens (access_digest, refresh_digest, owner_id, authenticated_userid, scope,
issued_at, expires_in, refresh_expires_at, family_id, revoked, purge_after)`
	sqliteInsertInto = `INSERT INTO tokens (` + tokenColumns + `, purge_after)`
)

// tokenSQL is how one backend's schema reads and writes token rows; every
// statement is built from these, so that the rest of sqlStore is shared.
type tokenSQL struct {
	// selectFrom reads tokenColumns, in order (readToken), from tokens;
	// a WHERE on the tokens table's own columns may follow.
	selectFrom string
	// insertInto is "INSERT INTO tokens (columns)"; values(n) is one row
	// of its VALUES taking insertOne's parameters numbered from n+1.
	insertInto string
	values     func(n int) string
	// insertOne is the single-row statement (InsertTokenSQL or
	// InsertTokenSQLite).
	insertOne string
	// byClient and byFamily select the rows of client / family $1.
	byClient, byFamily string
	// owners: the client column read is an owner id (migration 0005),
	// resolved through sqlStore.owners.
	owners bool
}

var pgTokenSQL = tokenSQL{
	// One table, one indexed lookup: the owner id is resolved in the
	// process (pgOwners) and the family id decoded there (familyOut), so
	// the hot read is planned and run as before 0005 (a join measured
	// twice the p50 of a lookup).
	selectFrom: `SELECT access_digest, refresh_digest, owner_id, '', authenticated_userid, scope,
issued_at, expires_in, refresh_expires_at, family_id, revoked FROM tokens`,
	insertInto: pgInsertInto,
	values:     func(n int) string { return "(" + placeholders(n+1, 11) + ")" },
	insertOne:  InsertTokenSQL,
	byClient:   `owner_id IN (SELECT id FROM token_owners WHERE client_id = $1)`,
	byFamily:   `family_id = token_family_in($1)`,
	owners:     true,
}

var sqliteTokenSQL = tokenSQL{
	selectFrom: `SELECT ` + tokenColumns + ` FROM tokens`,
	insertInto: sqliteInsertInto,
	values:     func(n int) string { return "(" + placeholders(n+1, 12) + ")" },
	insertOne:  InsertTokenSQLite,
	byClient:   `client_id = $1`,
	byFamily:   `family_id = $1`,
}

// execer is a *sql.DB (autocommit) or a *sql.Tx.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// insertToken stores t with the row args (rowArgs); ErrConflict if its
// access or refresh digest is already taken. A foreign-key violation is
// ErrClientGone, or errStaleOwner when the owner id came from the cache:
// the owner was deleted with its client since, perhaps made again under a
// new id, and the caller tries once more with the id looked up afresh.
func (s *sqlStore) insertToken(ctx context.Context, db execer, t Token, row tokenRow) error {
	res, err := db.ExecContext(ctx, s.d.tok.insertOne, row.args...)
	if err != nil {
		if isForeignKeyViolation(err) {
			if row.cachedOwner {
				s.owners.forget(t.ClientID, t.ServiceID)
				return errStaleOwner
			}
			return ErrClientGone
		}
		return fmt.Errorf("store: create token: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: create token: %w", err)
	} else if n == 0 {
		return ErrConflict
	}
	return nil
}

// withFreshOwner runs write with t's row and, if the row named a stale
// cached owner id (errStaleOwner), once more with the owner looked up
// again. A second stale answer means the client was deleted again
// meanwhile: ErrClientGone.
func (s *sqlStore) withFreshOwner(ctx context.Context, t Token, row tokenRow, write func(tokenRow) error) error {
	err := write(row)
	if !errors.Is(err, errStaleOwner) {
		return err
	}
	if row, err = s.rowArgs(ctx, t); err != nil {
		return err
	}
	if err = write(row); errors.Is(err, errStaleOwner) {
		return ErrClientGone
	}
	return err
}

// errStaleOwner: a token write named a cached owner id that no longer
// exists (see insertToken). Never returned by the store.
var errStaleOwner = errors.New("store: token owner deleted since it was cached")

// tokenRow is the parameters of insertOne for one token.
type tokenRow struct {
	args        []any
	cachedOwner bool // the owner id came from sqlStore.owners' cache
}

// rowArgs is t as insertOne's parameters: on PostgreSQL PgTokenArgs, with
// the owner id from the owner cache (looked up, or made, on first use);
// on SQLite tokenArgs.
func (s *sqlStore) rowArgs(ctx context.Context, t Token) (tokenRow, error) {
	if err := checkToken(t); err != nil {
		return tokenRow{}, err
	}
	if s.owners == nil {
		return tokenRow{args: tokenArgs(t)}, nil
	}
	id, cached, err := s.owners.id(ctx, s.db, t.ClientID, t.ServiceID)
	if err != nil {
		return tokenRow{}, err
	}
	return tokenRow{args: PgTokenArgs(t, id), cachedOwner: cached}, nil
}

// tokenArgs are a token's columns as given (the embedded store's
// InsertTokenSQLite, the bulk load's staging table).
func tokenArgs(t Token) []any {
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

// PgTokenArgs are InsertTokenSQL's parameters for t, whose client and
// service are the owner owner.
func PgTokenArgs(t Token, owner int32) []any {
	var refresh any // NULL
	if t.Refresh != nil {
		refresh = t.Refresh[:]
	}
	return []any{t.Access[:], refresh, owner, t.AuthenticatedUserID, t.Scope,
		t.IssuedAt.Unix(), t.ExpiresIn, nullTime(t.RefreshExpiresAt), FamilyBytes(t.FamilyID), t.Revoked,
		purgeAfter(t.IssuedAt, t.ExpiresIn, t.Refresh != nil, t.RefreshExpiresAt)}
}

// FamilyBytes is a family id as PostgreSQL stores it, what migration
// 0005's token_family_in(f) computes: 32 lowercase hex characters (the
// plugin's own family ids) are their 16 bytes; a 16-byte text is followed
// by a NUL (text never holds one) so that only the hex form is 16 bytes
// long; any other text is its bytes. familyOut is the inverse.
func FamilyBytes(f string) []byte {
	if len(f) == 32 && isLowerHex(f) {
		b, _ := hex.DecodeString(f)
		return b
	}
	if len(f) == 16 {
		return append([]byte(f), 0)
	}
	return []byte(f)
}

// CreateToken implements Store. Concurrent calls share one statement and
// one commit (group commit, see batch.go); a call alone is one autocommit
// INSERT: committed (and, on PostgreSQL, durable per the server's
// settings) when it returns, one database round trip instead of three
// (BEGIN, INSERT, COMMIT). On SQLite it still waits in the writer queue; an
// autocommit write statement takes the file's write lock when it starts
// (waiting up to the busy timeout for another process), so it needs no
// BEGIN IMMEDIATE: there is no earlier read whose lock it would upgrade.
func (s *sqlStore) CreateToken(ctx context.Context, t Token) error {
	row, err := s.rowArgs(ctx, t)
	if err != nil {
		return err
	}
	if s.batch == nil {
		return s.createOne(ctx, t, row)
	}
	return s.batch.create(ctx, t, row)
}

// readToken runs the query of one token row (tok.selectFrom and a WHERE)
// and scans it. On PostgreSQL the client column holds the owner id and the
// service column is empty: both come from the owner (ownerOf).
func (s *sqlStore) readToken(ctx context.Context, q string, arg any) (Token, error) {
	var (
		t               Token
		access, refresh []byte
		client          string
		service         sql.NullString
		issued          int64
		refreshExp      sql.NullInt64
		family          []byte
	)
	err := s.db.QueryRowContext(ctx, q, arg).Scan(&access, &refresh, &client, &service, &t.AuthenticatedUserID, &t.Scope,
		&issued, &t.ExpiresIn, &refreshExp, &family, &t.Revoked)
	if err != nil {
		return Token{}, err
	}
	if t.Access, err = digestFrom(access); err != nil {
		return Token{}, err
	}
	if refresh != nil {
		d, err := digestFrom(refresh)
		if err != nil {
			return Token{}, err
		}
		t.Refresh = &d
	}
	t.ClientID, t.ServiceID, t.FamilyID = client, service.String, string(family)
	if s.d.tok.owners {
		id, err := strconv.ParseInt(client, 10, 32)
		if err != nil {
			return Token{}, fmt.Errorf("store: token owner %q: %w", client, err)
		}
		o, err := s.owners.get(ctx, s.db, int32(id))
		if err != nil {
			return Token{}, err
		}
		t.ClientID, t.ServiceID, t.FamilyID = o.client, o.service, familyOut(family)
	}
	t.IssuedAt = time.Unix(issued, 0)
	if refreshExp.Valid {
		t.RefreshExpiresAt = time.Unix(refreshExp.Int64, 0)
	}
	return t, nil
}

// familyOut is the inverse of migration 0005's token_family_in: 16 bytes
// are the hex family id's, a 16-byte text is stored with a NUL after it,
// anything else is the text itself.
func familyOut(b []byte) string {
	switch {
	case len(b) == 16:
		return hex.EncodeToString(b)
	case len(b) == 17 && b[16] == 0:
		return string(b[:16])
	}
	return string(b)
}

// TokenByAccess implements Store. Revoked tokens are returned with
// Revoked set.
func (s *sqlStore) TokenByAccess(ctx context.Context, access Digest) (Token, error) {
	t, err := s.readToken(ctx, s.d.tok.selectFrom+` WHERE access_digest = $1`, access[:])
	if err != nil {
		return Token{}, notFound(err, "read token")
	}
	return t, nil
}

// TokenByRefresh implements Store.
func (s *sqlStore) TokenByRefresh(ctx context.Context, refresh Digest) (Token, error) {
	t, err := s.readToken(ctx, s.d.tok.selectFrom+` WHERE refresh_digest = $1`, refresh[:])
	if err != nil {
		return Token{}, notFound(err, "read token")
	}
	return t, nil
}

// RotateRefresh implements Store. The conditional UPDATE is the whole
// concurrency story: of two transactions revoking one row, the second
// waits for the first (PostgreSQL row lock, SQLite write lock), then finds
// it revoked and updates nothing.
func (s *sqlStore) RotateRefresh(ctx context.Context, old Digest, next Token) error {
	// The row's owner id is looked up before the transaction takes a
	// connection; a stale one aborts it, and it runs once more.
	row, err := s.rowArgs(ctx, next)
	if err != nil {
		return err
	}
	return s.withFreshOwner(ctx, next, row, func(row tokenRow) error { return s.rotateRefresh(ctx, old, next, row) })
}

func (s *sqlStore) rotateRefresh(ctx context.Context, old Digest, next Token, row tokenRow) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if s.d.lockOrder != "" {
			// The client row before the token row (see lockTokens); the
			// INSERT's foreign-key check would take it after.
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM clients WHERE client_id = $1 FOR KEY SHARE`, next.ClientID).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				return ErrClientGone
			}
			if err != nil {
				return fmt.Errorf("store: rotate refresh token: %w", err)
			}
		}
		var b []byte
		err := tx.QueryRowContext(ctx,
			`UPDATE tokens SET revoked = true WHERE refresh_digest = $1 AND NOT revoked RETURNING access_digest`,
			old[:]).Scan(&b)
		if errors.Is(err, sql.ErrNoRows) {
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM tokens WHERE refresh_digest = $1`, old[:]).Scan(&one)
			if err == nil {
				return ErrRefreshReused
			}
			return notFound(err, "rotate refresh token")
		}
		if err != nil {
			return fmt.Errorf("store: rotate refresh token: %w", err)
		}
		oldAccess, err := digestFrom(b)
		if err != nil {
			return err
		}
		if err := s.insertToken(ctx, tx, next, row); err != nil {
			return err
		}
		return s.addChanges(ctx, tx, []*Digest{&oldAccess})
	})
}

// ReissueAccess implements Store.
func (s *sqlStore) ReissueAccess(ctx context.Context, refresh Digest, access Digest, issuedAt time.Time, expiresIn int64, refreshExpiresAt time.Time) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		var b []byte
		err := tx.QueryRowContext(ctx, `SELECT access_digest FROM tokens
WHERE refresh_digest = $1 AND NOT revoked`+s.d.forUpdate, refresh[:]).Scan(&b)
		if err != nil {
			return notFound(err, "reissue access token")
		}
		oldAccess, err := digestFrom(b)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE tokens
SET access_digest = $2, issued_at = $3, expires_in = $4, refresh_expires_at = $5, purge_after = $6
WHERE refresh_digest = $1 AND NOT revoked`,
			refresh[:], access[:], issuedAt.Unix(), expiresIn, nullTime(refreshExpiresAt),
			purgeAfter(issuedAt, expiresIn, true, refreshExpiresAt))
		if err != nil {
			return fmt.Errorf("store: reissue access token: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store: reissue access token: %w", err)
		} else if n == 0 {
			return ErrNotFound
		}
		return s.addChanges(ctx, tx, []*Digest{&oldAccess})
	})
}

// Revoke implements Store. Revoking one token or one family names every
// revoked access token in the change feed; revoking by client or user
// tells caches to drop everything (one entry instead of thousands).
func (s *sqlStore) Revoke(ctx context.Context, r Revocation) (int, error) {
	set := 0
	for _, ok := range []bool{r.Access != nil, r.Refresh != nil, r.ClientID != "", r.UserID != "", r.FamilyID != ""} {
		if ok {
			set++
		}
	}
	if set != 1 {
		return 0, errors.New("store: a revocation sets exactly one selector")
	}
	var (
		where string // selects the rows to revoke
		arg   any
		bulk  = r.ClientID != "" || r.UserID != ""
	)
	switch {
	case r.ClientID != "":
		where, arg = s.d.tok.byClient, r.ClientID
	case r.UserID != "":
		where, arg = `authenticated_userid = $1`, r.UserID
	case r.Access != nil:
		where, arg = `access_digest = $1`, r.Access[:]
	case r.Refresh != nil:
		where, arg = `family_id IN (SELECT family_id FROM tokens WHERE refresh_digest = $1)`, r.Refresh[:]
	default:
		where, arg = s.d.tok.byFamily, r.FamilyID
	}
	where += ` AND NOT revoked`
	var n int
	err := s.write(ctx, func(tx *sql.Tx) error {
		n = 0
		where, arg := where, arg
		if r.Access == nil && s.d.lockOrder != "" { // one row needs no order
			locked, err := s.lockTokens(ctx, tx, where, arg)
			if err != nil {
				return fmt.Errorf("store: revoke: %w", err)
			}
			if len(locked) == 0 {
				return nil
			}
			// Exactly the rows locked: a row that appeared since (a new
			// token, committed) may be locked by another transaction,
			// and waiting for it here would break the order.
			where, arg = `access_digest = ANY($1) AND NOT revoked`, pq.ByteaArray(locked)
		}
		// A revoked row's refresh token also expires (one second before
		// its issue, so at once whatever the clock reads): a rotation
		// revokes the old row too, but leaves its refresh expiry, and that
		// is how a refresh grant tells a rotated token, which
		// refresh_token_grace_period may let its client retry, from one
		// revoked here (RFC 7009, a logout, a replay), which it never may.
		const upd = `UPDATE tokens SET revoked = true,
refresh_expires_at = CASE WHEN refresh_digest IS NULL THEN refresh_expires_at ELSE issued_at - 1 END WHERE `
		if bulk {
			res, err := tx.ExecContext(ctx, upd+where, arg)
			if err != nil {
				return fmt.Errorf("store: revoke: %w", err)
			}
			m, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("store: revoke: %w", err)
			}
			if n = int(m); n == 0 {
				return nil
			}
			return s.addChanges(ctx, tx, []*Digest{nil})
		}
		digests, err := queryDigests(ctx, tx, upd+where+` RETURNING access_digest`, arg)
		if err != nil {
			return fmt.Errorf("store: revoke: %w", err)
		}
		n = len(digests)
		return s.addChanges(ctx, tx, digests)
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// lockTokens locks, before a statement that writes several token rows,
// every row where selects, in the one order all such transactions use, and
// returns their access digests (PostgreSQL only: SQLite's writers hold the
// whole file).
//
// Lock order on PostgreSQL, the whole of it: the client row first (a
// deletion locks it FOR UPDATE, a rotation FOR KEY SHARE before touching
// its token; a lone INSERT's foreign-key check takes it after a row no one
// else can see yet), then token rows, in (family_id, refresh_digest,
// access_digest) order — columns no write changes, except the access
// digest of a row whose refresh digest already orders it —, then the
// change feed (addChanges, last statement). A transaction holding a lock
// only ever waits for one later in that order, so no two can wait for
// each other. Without it an UPDATE locks rows in the order its plan meets
// them, and two bulk revocations, or a client deletion and a rotation,
// could each hold what the other waits for (deadlock_detected, 40P01: one
// of them fails).
func (s *sqlStore) lockTokens(ctx context.Context, tx *sql.Tx, where string, arg any) ([][]byte, error) {
	rows, err := tx.QueryContext(ctx, `SELECT access_digest FROM tokens WHERE `+where+s.d.lockOrder, arg)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// queryDigests runs q and collects the one digest column it returns.
func queryDigests(ctx context.Context, tx *sql.Tx, q string, args ...any) ([]*Digest, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Digest
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		d, err := digestFrom(b)
		if err != nil {
			return nil, err
		}
		out = append(out, &d)
	}
	return out, rows.Err()
}
