package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	neturl "net/url"
	"strings"
	"time"

	"github.com/lib/pq"
)

// Postgres is the store for Kong clusters: every node shares one database.
type Postgres struct {
	*sqlStore
	url   string
	guard *demoteGuard // drops connections to a demoted primary
}

var _ notifier = (*Postgres)(nil)

func (p *Postgres) listenURL() string { return p.url }

// heard implements notifier: the primary alone needs no sync for it.
func (p *Postgres) heard() bool { return false }

func (p *Postgres) notify(ctx context.Context, payload string) error {
	_, err := p.db.ExecContext(ctx, `SELECT pg_notify($1, $2)`, NotifyChannel, payload)
	return err
}

var pgDialect = dialect{
	// SKIP LOCKED: the purge never waits for a row another transaction
	// holds (it is dead anyway; the next purge takes it), so it has no
	// place in the lock order (see lockTokens), and purges running on
	// several nodes at once each take rows the others have not: no node
	// waits for another's batch or deletes its rows again. The LIMIT
	// bounds how long the batch's row locks are held.
	purgeTokens: `DELETE FROM tokens WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM tokens WHERE purge_after < $1 LIMIT $2 FOR UPDATE SKIP LOCKED))`,
	purgeChanges: `DELETE FROM token_changes WHERE seq = ANY(ARRAY(
    SELECT seq FROM token_changes
    WHERE created_at < $1 AND seq < (SELECT MAX(seq) FROM token_changes)
    ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED))`,
	forUpdate: ` FOR UPDATE`,
	// EXCLUSIVE conflicts with other writers of token_changes (ROW
	// EXCLUSIVE) but not with readers (ACCESS SHARE): Changes never waits.
	lockFeed:  `LOCK TABLE token_changes IN EXCLUSIVE MODE`,
	lockOrder: ` ORDER BY family_id, refresh_digest, access_digest FOR UPDATE`,
	notify:    true,
	tok:       pgTokenSQL,
}

// pgTokenWriters is how many token batches may be under way at once: one.
// While its statement runs, every token write that arrives queues behind
// it and goes into the next statement, so concurrent issuances share a
// statement, a transaction and a commit. On PostgreSQL that saves most of
// each token's work besides the row itself: planning, the commit and the
// foreign-key check's lock on the client row (taken once per batch instead
// of once per token by competing transactions). Measured side by side
// (`go run ./tests/bench -serve-issuance-only`, durable PostgreSQL, quiet
// 2-core machine, two runs each): serve at concurrency 8 reached 0.72–0.85×
// the raw single-INSERT loop with 1 writer, 0.65–0.76× with 2, 0.50–0.53×
// with 8 (where no batch ever formed); latency at concurrency 1 is the same
// (a batch of one is the old statement). Cost: one slow statement holds
// back every token write of the process for its duration.
const pgTokenWriters = 1

// migrateLockKey is the pg_advisory_xact_lock key that serializes
// migrations across every process migrating the same database ("oauth2pw").
const migrateLockKey int64 = 0x6f61757468327077

// OpenPostgres connects to the PostgreSQL database at url (postgres:// or
// postgresql://). It does not migrate; Open does.
func OpenPostgres(ctx context.Context, url string) (*Postgres, error) {
	url, err := NormalizePostgresURL(url)
	if err != nil {
		return nil, err
	}
	connector, err := PostgresConnector(url)
	if err != nil {
		return nil, err
	}
	guard := &demoteGuard{}
	db := sql.OpenDB(guardedConnector{connector, guard})
	// A plugin process serves one Kong worker's requests; 16 connections
	// keep latency flat under bursts without starving a shared server
	// (max_connections is 100 by default and a cluster has many nodes).
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
	db.SetConnMaxLifetime(30 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: connect to PostgreSQL %s: %w", redactURL(url), err)
	}
	return &Postgres{newSQLStore(db, pgDialect, nil, pgTokenWriters), url, guard}, nil
}

// PostgresConnector is lib/pq's connector for url as the store uses it:
// binary_parameters always on, whatever the URL says.
//
// With it lib/pq sends every statement with parameters as one message
// batch (Parse, Bind, Execute, Sync on the unnamed statement) in a single
// round trip. Without it lib/pq prepares the unnamed statement in one round
// trip and binds it in a second; pgbouncer in transaction pooling may send
// the two to different server connections, binding one request's
// parameters to another's statement ("unnamed prepared statement does not
// exist", "bind message supplies 1 parameters, but prepared statement
// requires 12"). Every query of the store is then safe behind pgbouncer in
// transaction pooling: no statement spans round trips, no session state
// (no SET, no prepared statement, no advisory lock outside a transaction),
// and transactions stay on one server connection. It also saves one round
// trip per query against PostgreSQL directly. Parameters of type []byte go
// as binary, which is what the bytea columns want.
func PostgresConnector(url string) (*pq.Connector, error) {
	// Parsed here rather than at the first connection, whose error would
	// carry lib/pq's parse error: url.Parse's quote the URL, password
	// included. lib/pq's own (a bad sslmode…) name the setting only.
	url, err := NormalizePostgresURL(url)
	if err != nil {
		return nil, err
	}
	if !IsPostgresURL(url) {
		// lib/pq would read anything else as a key=value string, and its
		// parse error quotes it: " postgres://…" or "Postgres://…", password
		// included.
		return nil, fmt.Errorf("store: invalid PostgreSQL URL %s: want postgres://… or postgresql://…", redactURL(url))
	}
	if p, err := neturl.Parse(url); err == nil && p.Host == "" && p.User == nil && strings.Contains(p.Path, "@") {
		// postgres:///u:p@h/db: lib/pq would connect to the default host
		// with the rest as the database name, and quote it in its error.
		return nil, fmt.Errorf("store: invalid PostgreSQL URL %s: the user and host go right after //, e.g. %s://USER:PASSWORD@HOST:5432/DATABASE", redactURL(url), p.Scheme)
	}
	cfg, err := pq.NewConfig(url)
	if err != nil {
		if ue := (*neturl.Error)(nil); errors.As(err, &ue) {
			return nil, fmt.Errorf("store: invalid PostgreSQL URL %s", redactURL(url))
		}
		return nil, fmt.Errorf("store: invalid PostgreSQL URL %s: %w", redactURL(url), err)
	}
	cfg.BinaryParameters = true
	return pq.NewConnectorConfig(cfg)
}

// Migrate implements Store. Everything runs in one transaction holding a
// transaction-scoped advisory lock: a second process migrating at the same
// time waits for the first to commit, then finds every migration recorded
// and succeeds without doing anything. The lock goes away with the
// transaction even if the process dies.
func (p *Postgres) Migrate(ctx context.Context) error {
	ms, err := migrationsFor("postgres")
	if err != nil {
		return err
	}
	return p.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, migrateLockKey); err != nil {
			return fmt.Errorf("store: migration lock: %w", err)
		}
		return applyMigrations(ctx, tx, ms, time.Now().Unix())
	})
}

// MigrateTo applies the migrations up to version only: for the tests and
// tools that load a database at an older schema and then migrate it.
func (p *Postgres) MigrateTo(ctx context.Context, version int64) error {
	ms, err := migrationsFor("postgres")
	if err != nil {
		return err
	}
	var upTo []migration
	for _, m := range ms {
		if m.version <= version {
			upTo = append(upTo, m)
		}
	}
	if len(upTo) == 0 {
		return fmt.Errorf("store: no migration up to version %d", version)
	}
	return p.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, migrateLockKey); err != nil {
			return fmt.Errorf("store: migration lock: %w", err)
		}
		return applyMigrations(ctx, tx, upTo, time.Now().Unix())
	})
}
