package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// errStoreNotReady is what a store call of a Lazy returns when the store
// has not been opened and migrated within the call's deadline: answered
// 503.
var errStoreNotReady = errors.New("store not ready")

// Lazy is a Cached store opened in the background, retrying until it
// works, so that a process started while its database is down serves 503
// instead of crash-looping under its supervisor (Kong respawns plugin
// servers). Every binary mode uses it.
//
// A call made while the store is still opening waits for it, within the
// call's context (the engine bounds each call by -store-timeout): a process
// Kong has just respawned answers its first requests a little late rather
// than with 503.
type Lazy struct {
	cur     atomic.Pointer[Cached]
	ready   chan struct{} // closed once cur is set
	failed  chan struct{} // closed when opening gave up (LazyOptions.StartTimeout)
	err     error         // why, set before failed is closed
	log     *slog.Logger
	created time.Time
}

// LazyOptions configure OpenLazy.
type LazyOptions struct {
	Cache      CacheOptions
	PurgeEvery time.Duration
	PurgeBatch int
	Log        *slog.Logger // default: discard
	// Metrics, when set, is told of every database call and cache
	// lookup.
	Metrics Metrics
	// StartTimeout, when more than 0, bounds the opening: the embedded
	// store is tried once (a missing directory or an unreadable file
	// does not heal by waiting), PostgreSQL until StartTimeout has passed
	// (a database still starting beside the server). Then Failed is
	// closed and Err says why. 0 retries for ever: Kong respawns a plugin
	// server that exits, so there a crash loop is the worse answer.
	// Once open, a store that goes away is the cache's business
	// (stale-if-error), never a reason to give up.
	StartTimeout time.Duration
	// ReadURL, when set, is a PostgreSQL read replica for the lookups
	// that miss the cache (WithReadReplica).
	ReadURL string
}

// OpenLazy starts opening the store at url in the background and returns
// at once. Once open, the store is cached, synced and purged; ctx ends all
// of it.
func OpenLazy(ctx context.Context, url string, o LazyOptions) *Lazy {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	l := &Lazy{log: o.Log, created: time.Now(), ready: make(chan struct{}), failed: make(chan struct{})}
	go l.open(ctx, url, o)
	return l
}

func (l *Lazy) open(ctx context.Context, url string, o LazyOptions) {
	for attempt := 0; ; attempt++ {
		s, err := Open(ctx, url)
		if err == nil && o.ReadURL != "" {
			s, err = addReplica(ctx, s, o)
		}
		if err == nil {
			co := o.Cache
			co.Log, co.Metrics = o.Log, o.Metrics
			if o.Metrics != nil {
				s = Observed(s, o.Metrics)
			}
			c := NewCached(s, co)
			c.Start(ctx)
			c.StartPurge(ctx, o.PurgeEvery, o.PurgeBatch)
			l.cur.Store(c)
			close(l.ready)
			if attempt > 0 {
				l.log.Info("store ready")
			}
			return
		}
		if ctx.Err() != nil {
			return // shutting down
		}
		if o.StartTimeout > 0 && (!IsPostgresURL(url) || time.Since(l.created)+2*time.Second > o.StartTimeout) {
			l.err = err
			close(l.failed)
			return
		}
		l.log.Error("opening the store failed; retrying in 2s", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
	}
}

// Failed is closed when opening the store gave up (LazyOptions.StartTimeout).
func (l *Lazy) Failed() <-chan struct{} { return l.failed }

// Err is why opening the store gave up, once Failed is closed.
func (l *Lazy) Err() error {
	select {
	case <-l.failed:
		return l.err
	default:
		return nil
	}
}

// addReplica puts the read replica of o.ReadURL behind s (PostgreSQL).
func addReplica(ctx context.Context, s Store, o LazyOptions) (Store, error) {
	p, ok := s.(*Postgres)
	if !ok {
		s.Close()
		return nil, errors.New("store: a read replica needs a PostgreSQL store")
	}
	db, err := OpenReadReplica(o.ReadURL)
	if err != nil {
		s.Close()
		return nil, err
	}
	pingReplica(ctx, db, o.ReadURL, o.Log)
	rm, _ := o.Metrics.(ReplicaMetrics)
	return WithReadReplica(p, db, rm), nil
}

// Ready reports whether the store is open.
func (l *Lazy) Ready() bool { return l.cur.Load() != nil }

// SyncAge is Cached.SyncAge once the store is open, else the time since
// OpenLazy.
func (l *Lazy) SyncAge() time.Duration {
	if c := l.cur.Load(); c != nil {
		return c.SyncAge()
	}
	return time.Since(l.created)
}

// ListenerUp is Cached.ListenerUp once the store is open, else false.
func (l *Lazy) ListenerUp() bool {
	c := l.cur.Load()
	return c != nil && c.ListenerUp()
}

// Close closes the store if it was opened.
func (l *Lazy) Close() {
	if c := l.cur.Load(); c != nil {
		_ = c.Close()
	}
}

// get returns the store, waiting while it opens until ctx is done.
func (l *Lazy) get(ctx context.Context) (*Cached, error) {
	if c := l.cur.Load(); c != nil {
		return c, nil
	}
	select {
	case <-l.ready:
		return l.cur.Load(), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", errStoreNotReady, ctx.Err())
	}
}

func (l *Lazy) Client(ctx context.Context, id string) (Client, error) {
	c, err := l.get(ctx)
	if err != nil {
		return Client{}, err
	}
	return c.Client(ctx, id)
}

func (l *Lazy) CreateToken(ctx context.Context, t Token) error {
	c, err := l.get(ctx)
	if err != nil {
		return err
	}
	return c.CreateToken(ctx, t)
}

func (l *Lazy) TokenByAccess(ctx context.Context, d Digest) (Token, error) {
	c, err := l.get(ctx)
	if err != nil {
		return Token{}, err
	}
	return c.TokenByAccess(ctx, d)
}

func (l *Lazy) TokenByRefresh(ctx context.Context, d Digest) (Token, error) {
	c, err := l.get(ctx)
	if err != nil {
		return Token{}, err
	}
	return c.TokenByRefresh(ctx, d)
}

func (l *Lazy) RotateRefresh(ctx context.Context, old Digest, next Token) error {
	c, err := l.get(ctx)
	if err != nil {
		return err
	}
	return c.RotateRefresh(ctx, old, next)
}

func (l *Lazy) ReissueAccess(ctx context.Context, refresh, access Digest, issuedAt time.Time, expiresIn int64, refreshExpiresAt time.Time) error {
	c, err := l.get(ctx)
	if err != nil {
		return err
	}
	return c.ReissueAccess(ctx, refresh, access, issuedAt, expiresIn, refreshExpiresAt)
}

func (l *Lazy) Revoke(ctx context.Context, r Revocation) (int, error) {
	c, err := l.get(ctx)
	if err != nil {
		return 0, err
	}
	return c.Revoke(ctx, r)
}

func (l *Lazy) CachedAccess(d Digest) (AccessToken, bool) {
	if c := l.cur.Load(); c != nil {
		return c.CachedAccess(d)
	}
	return AccessToken{}, false
}

func (l *Lazy) CachedClient(id string) (Client, bool) {
	if c := l.cur.Load(); c != nil {
		return c.CachedClient(id)
	}
	return Client{}, false
}

// TokenCheckKey waits for the store like every other call.
func (l *Lazy) TokenCheckKey(ctx context.Context) ([]byte, error) {
	c, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return c.TokenCheckKey(ctx)
}
