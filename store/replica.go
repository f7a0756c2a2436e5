package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ReplicaMetrics is told where each read sent to a replica was answered;
// the binary's Prometheus collector implements it. Optional: a Metrics
// without it counts nothing of replicas.
type ReplicaMetrics interface {
	// ReplicaRead reports one lookup (kind CacheTokens or CacheClients):
	// answered by the replica (hit true), or retried on the primary
	// because the replica did not have it or failed (hit false).
	ReplicaRead(kind string, hit bool)
}

// OpenReadReplica connects to a read replica (a hot standby, an Aurora
// reader endpoint) at url. It does not migrate: the primary does.
func OpenReadReplica(ctx context.Context, url string) (*sql.DB, error) {
	url, err := normalizePostgresURL(url, false)
	if err != nil {
		return nil, err
	}
	connector, err := PostgresConnector(url)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
	db.SetConnMaxLifetime(30 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: connect to the read replica %s: %w", redactURL(url), err)
	}
	return db, nil
}

// withReplica is a PostgreSQL store whose cache-miss lookups (bearer
// validation and introspection by access token, client lookup) read a
// replica first. A replica lags: a token issued a moment ago on the
// primary, here or on another node, may not be there yet, and Kong's
// plugin answered 401 for such tokens (Kong #9115). So a miss, or any
// error, on the replica is asked again of the primary before the engine
// may answer 401 or invalid_client: only a token the primary does not
// know is refused. Everything else (writes, refresh tokens, the change
// feed, anything that must see its own writes) goes to the primary.
type withReplica struct {
	*Postgres
	replica *sqlStore
	m       ReplicaMetrics
}

// WithReadReplica returns p reading access tokens and clients from the
// replica db first. m may be nil.
func WithReadReplica(p *Postgres, db *sql.DB, m ReplicaMetrics) Store {
	if m == nil {
		m = noReplicaMetrics{}
	}
	return &withReplica{Postgres: p, replica: &sqlStore{db: db, d: pgDialect, owners: &ownerCache{}}, m: m}
}

func (w *withReplica) TokenByAccess(ctx context.Context, d Digest) (Token, error) {
	t, err := w.replica.TokenByAccess(ctx, d)
	if err == nil {
		w.m.ReplicaRead(CacheTokens, true)
		return t, nil
	}
	if ctx.Err() != nil {
		return Token{}, err
	}
	w.m.ReplicaRead(CacheTokens, false)
	return w.Postgres.TokenByAccess(ctx, d)
}

func (w *withReplica) Client(ctx context.Context, id string) (Client, error) {
	c, err := w.replica.Client(ctx, id)
	if err == nil {
		w.m.ReplicaRead(CacheClients, true)
		return c, nil
	}
	if ctx.Err() != nil && !errors.Is(err, ErrNotFound) {
		return Client{}, err
	}
	w.m.ReplicaRead(CacheClients, false)
	return w.Postgres.Client(ctx, id)
}

// Close closes both connection pools.
func (w *withReplica) Close() error {
	w.replica.db.Close()
	return w.Postgres.Close()
}

type noReplicaMetrics struct{}

func (noReplicaMetrics) ReplicaRead(string, bool) {}
