package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// SQLite is the embedded store for a single node or DB-less Kong: one file
// shared by the plugin process and the admin CLI, possibly at the same time.
type SQLite struct {
	*sqlStore
}

var sqliteDialect = dialect{
	purgeTokens: `DELETE FROM tokens WHERE rowid IN (
    SELECT rowid FROM tokens WHERE purge_after < $1 LIMIT $2)`,
	purgeChanges: `DELETE FROM token_changes WHERE seq IN (
    SELECT seq FROM token_changes
    WHERE created_at < $1 AND seq < (SELECT MAX(seq) FROM token_changes)
    ORDER BY seq LIMIT $2)`,
	tok: sqliteTokenSQL,
	// Every read-write transaction starts with BEGIN IMMEDIATE: it holds
	// the file's write lock from its first statement, so there is neither
	// a row to lock nor a feed order to protect.
}

// sqliteBusyTimeout is how long a statement waits for another process (the
// admin CLI, a second Kong worker) to release the write lock.
const sqliteBusyTimeout = 5 * time.Second

// OpenSQLite opens (creating if needed) the SQLite file at path. It does
// not migrate; Open does.
//
// Durability: WAL journal with synchronous=NORMAL. A transaction is in the
// WAL, in the OS page cache, when COMMIT returns, so a token answered with
// 200 survives the process being killed (SIGKILL, OOM). Only an OS crash or
// power loss can lose the last transactions before a checkpoint, and then
// the database stays consistent. That trade is acceptable for tokens (the
// client gets a new one with its password) and avoids an fsync on every
// token issued, which synchronous=FULL costs.
//
// _txlock=immediate makes every read-write transaction BEGIN IMMEDIATE
// (read-only ones stay deferred): a transaction that read under a shared
// lock and then tried to write could otherwise fail with SQLITE_BUSY
// regardless of the busy timeout, when another process wrote in between.
func OpenSQLite(ctx context.Context, path string) (*SQLite, error) {
	if path == "" {
		return nil, fmt.Errorf("store: SQLite path is empty")
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("store: SQLite path %q must not contain '?' or '#'", path)
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", sqliteBusyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("store: open SQLite %s: %w", path, err)
	}
	// WAL lets readers run beside the one writer; the writer semaphore
	// below queues this process's writers without tying up connections.
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(10 * time.Minute)
	var mode string
	if err := db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open SQLite %s: %w", path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		db.Close()
		return nil, fmt.Errorf("store: open SQLite %s: journal_mode is %q, want wal", path, mode)
	}
	// One token writer: the file has one writer at a time anyway.
	return &SQLite{newSQLStore(db, sqliteDialect, make(chan struct{}, 1), 1)}, nil
}

// Migrate implements Store: one BEGIN IMMEDIATE transaction, so a second
// process migrating at the same time waits (busy timeout) and then finds
// the work done.
func (s *SQLite) Migrate(ctx context.Context) error {
	ms, err := migrationsFor("sqlite")
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		return applyMigrations(ctx, tx, ms, time.Now().Unix())
	})
}
