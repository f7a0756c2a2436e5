package store

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"sync/atomic"
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

// OpenReadReplica opens a pool for a read replica (a hot standby, an
// Aurora reader endpoint) at url; only a URL it cannot use is an error.
// It neither connects (see pingReplica) nor migrates: the primary does.
func OpenReadReplica(url string) (*sql.DB, error) {
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
	return db, nil
}

// pingReplica says at start whether the replica answers. One that does
// not is no reason to keep the node down: every lookup it cannot answer
// goes on to the primary, and the pool connects once it is back.
func pingReplica(ctx context.Context, db *sql.DB, url string, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		log.Warn("the read replica does not answer; its lookups go to the primary until it does",
			"url", redactURL(url), "err", err)
	}
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
//
// A lagging replica also still shows a token as it was before a
// revocation or a client deletion, which the cache has just evicted on
// the primary's change feed: read back from the replica and cached, it
// would validate until the cache's TTL. So the replica answers only when
// it has replayed the change feed as far as this process has read it
// from the primary (seen); a replica behind that is skipped. A change
// notification evicts before the feed is read: from then (heard) until
// the feed has been read again the replica is skipped too, and the cache
// reads the feed at once.
type withReplica struct {
	*Postgres
	replica *sqlStore
	m       ReplicaMetrics
	seen    atomic.Int64  // the newest change-feed seq read from the primary
	notes   atomic.Uint64 // change notifications heard
	synced  atomic.Uint64 // notes heard before the last read of the feed
}

// Changes implements Store, on the primary, remembering how far it got.
func (w *withReplica) Changes(ctx context.Context, after int64) ([]Change, int64, error) {
	notes := w.notes.Load()
	cs, newest, err := w.Postgres.Changes(ctx, after)
	if err == nil {
		storeMax(&w.seen, newest)
		for {
			old := w.synced.Load()
			if notes <= old || w.synced.CompareAndSwap(old, notes) {
				break
			}
		}
	}
	return cs, newest, err
}

// heard implements notifier: until the feed is read again, the change
// notified may be newer than seen.
func (w *withReplica) heard() bool {
	w.notes.Add(1)
	return true
}

// current reports whether the replica has replayed every change of the
// feed this process knows of. Its answer to a lookup made after this
// check is then at least as new as the cache's evictions. Cost: one more
// statement on the replica per cache miss.
func (w *withReplica) current(ctx context.Context) bool {
	if w.synced.Load() < w.notes.Load() {
		return false
	}
	var seq int64
	err := w.replica.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM token_changes`).Scan(&seq)
	return err == nil && seq >= w.seen.Load()
}

// storeMax raises v to n.
func storeMax(v *atomic.Int64, n int64) {
	for {
		old := v.Load()
		if n <= old || v.CompareAndSwap(old, n) {
			return
		}
	}
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
	if !w.current(ctx) {
		if ctx.Err() != nil {
			return Token{}, ctx.Err()
		}
		w.m.ReplicaRead(CacheTokens, false)
		return w.Postgres.TokenByAccess(ctx, d)
	}
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
	if !w.current(ctx) {
		if ctx.Err() != nil {
			return Client{}, ctx.Err()
		}
		w.m.ReplicaRead(CacheClients, false)
		return w.Postgres.Client(ctx, id)
	}
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
