package store

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// CacheOptions configure Cached. Zero fields take the defaults.
type CacheOptions struct {
	// SyncInterval bounds how long a change made by another process (a
	// CLI revocation, another Kong node) takes to be honoured here.
	// Default 2s.
	SyncInterval time.Duration
	// MaxTTL is the longest a cached entry lives, changes or not.
	// Default 10m; it must stay below the change feed's one-hour
	// retention.
	MaxTTL time.Duration
	// StaleIfError: while the change feed cannot be read, cached tokens
	// keep validating for at most this long after the last successful
	// sync; then the cache is emptied and every lookup goes to the store.
	// Default 60s.
	StaleIfError time.Duration
	// ListenURL is where the cache of a PostgreSQL store opens its LISTEN
	// session for change notifications; "" = the store's own URL. It must
	// reach PostgreSQL directly (or through a session-pooling proxy):
	// LISTEN needs a session, which pgbouncer in transaction pooling does
	// not keep.
	ListenURL string
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Log reports background errors (sync, purge); default: discard.
	Log *slog.Logger
	// Metrics is told of cache hits and misses, and of evictions if it
	// implements EvictionMetrics; default: nobody. (Store calls are
	// reported by wrapping the store with Observed.)
	Metrics Metrics
	// MaxEntries bounds the tokens cached, and separately the clients:
	// storing one more evicts one not used lately (see Bounded).
	// Default DefaultMaxEntries.
	MaxEntries int
}

// DefaultMaxEntries is the default bound of the token cache: about 70 MB
// of heap at the ~280 bytes a cached token takes (docs/cache.md), which
// fits a small node; a token not cached costs one indexed read.
const DefaultMaxEntries = 250_000

// DefaultCacheOptions are the defaults, also those of the binary's flags.
func DefaultCacheOptions() CacheOptions {
	return CacheOptions{SyncInterval: 2 * time.Second, MaxTTL: 10 * time.Minute, StaleIfError: 60 * time.Second,
		MaxEntries: DefaultMaxEntries}
}

func (o *CacheOptions) defaults() {
	d := DefaultCacheOptions()
	if o.SyncInterval <= 0 {
		o.SyncInterval = d.SyncInterval
	}
	if o.MaxTTL <= 0 {
		o.MaxTTL = d.MaxTTL
	}
	o.MaxTTL = min(o.MaxTTL, changeRetention/2)
	if o.StaleIfError <= 0 {
		o.StaleIfError = d.StaleIfError
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = d.MaxEntries
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = noMetrics{}
	}
}

// Cached is a Store with a cache of tokens (by access digest) and clients in
// front, kept honest by the store's change feed.
//
// Misses are never cached: a token issued by another process validates on
// first use here. Revoked and expired tokens are never cached, and an entry
// never outlives its access token. Until Start has synced once (and again
// whenever the feed has been unreadable for StaleIfError), Cached caches
// nothing and every read goes to the store.
type Cached struct {
	s       Store
	o       CacheOptions
	tokens  *Bounded[*tokenEntry]
	clients *Bounded[*clientEntry]
	extras  *Bounded[*attachment] // values attached to cached tokens (cache_attach.go)
	queries atomic.Int64

	// gen changes before every eviction. A read that fetched from the
	// store under one generation must not leave its result cached under
	// another: it could be the copy the eviction was meant to remove.
	gen atomic.Uint64
	// dirty: something may be cached (so a stale cache needs a flush).
	dirty atomic.Bool
	// lastOK is the Now().UnixNano() at which the last successful sync
	// started; 0 = never.
	lastOK atomic.Int64
	// created is when NewCached ran: the sync age of a cache never synced.
	created time.Time
	// listenState is the LISTEN session's (listener* constants).
	listenState atomic.Int32

	syncMu chan struct{} // one sync at a time; guards after and based
	kick   chan struct{} // a sync wanted now (syncSoon)
	after  int64
	based  bool

	startOnce sync.Once
	closeOnce sync.Once
	mu        sync.Mutex // guards cancel
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

var _ Store = (*Cached)(nil)

// NewCached wraps s. Call Start to sync with the change feed (and so to
// cache at all), Close to stop and close s.
func NewCached(s Store, o CacheOptions) *Cached {
	o.defaults()
	var onToken, onClient func()
	if m, ok := o.Metrics.(EvictionMetrics); ok {
		onToken = func() { m.CacheEvicted(CacheTokens) }
		onClient = func() { m.CacheEvicted(CacheClients) }
	}
	return &Cached{
		s:       s,
		o:       o,
		tokens:  NewBounded[*tokenEntry](BoundedOptions{MaxEntries: o.MaxEntries, TTL: o.MaxTTL, OnEvict: onToken}),
		clients: NewBounded[*clientEntry](BoundedOptions{MaxEntries: o.MaxEntries, TTL: o.MaxTTL, OnEvict: onClient}),
		extras:  NewBounded[*attachment](BoundedOptions{MaxEntries: o.MaxEntries, TTL: o.MaxTTL}),
		syncMu:  make(chan struct{}, 1),
		kick:    make(chan struct{}, 1),
		created: o.Now(),
	}
}

// syncSoon asks the background loop for a sync now; requests made while
// one is pending are one.
func (c *Cached) syncSoon() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// sweepInterval is how often each shard of the caches is swept of expired
// entries: memory held by expired entries is bounded anyway (they count
// against MaxEntries and are evicted first), so the sweep only returns it
// sooner.
func (c *Cached) sweepInterval() time.Duration { return min(c.o.MaxTTL, time.Minute) }

// clientEntry is a cached client.
type clientEntry struct {
	HotBit
	id string // the key: the client_id looked up
	cl Client
}

func (e *clientEntry) CacheKey() string { return e.id }

// Start syncs once with the change feed (so that the cache works as soon as
// Start returns, if the store is up) and then keeps syncing every
// SyncInterval until ctx is done or Close is called. On PostgreSQL it also
// listens for change notifications, which evict within milliseconds of the
// commit what the poll would evict within SyncInterval.
func (c *Cached) Start(ctx context.Context) {
	c.startOnce.Do(func() {
		ctx = c.background(ctx)
		if err := c.syncTimeout(ctx); err != nil {
			c.o.Log.Warn(msgSyncFailed, "err", err)
		}
		c.wg.Go(func() { c.tokens.Run(ctx, c.sweepInterval()) })
		c.wg.Go(func() { c.clients.Run(ctx, c.sweepInterval()) })
		c.wg.Go(func() { c.extras.Run(ctx, c.sweepInterval()) })
		if n, ok := c.s.(notifier); ok {
			c.wg.Go(func() { c.listen(ctx, n) })
		}
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			t := time.NewTicker(c.o.SyncInterval)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				case <-c.kick:
				}
				if err := c.syncTimeout(ctx); err != nil && ctx.Err() == nil {
					c.o.Log.Warn(msgSyncFailed, "err", err)
				}
			}
		}()
	})
}

// StartPurge deletes dead tokens in the background (see RunPurger) until
// ctx is done or Close is called.
func (c *Cached) StartPurge(ctx context.Context, every time.Duration, batch int) {
	ctx = c.background(ctx)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		RunPurger(ctx, c.s, every, batch, c.o.Now, c.o.Log)
	}()
}

// background derives from ctx a context that Close cancels.
func (c *Cached) background(ctx context.Context) context.Context {
	ctx, cancel := context.WithCancel(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev := c.cancel; prev != nil {
		c.cancel = func() { prev(); cancel() }
	} else {
		c.cancel = cancel
	}
	return ctx
}

// Close stops the background work and closes the underlying store.
func (c *Cached) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		if c.cancel != nil {
			c.cancel()
		}
		c.mu.Unlock()
		c.wg.Wait()
		c.flush()
	})
	return c.s.Close()
}

// CachedTokens is the number of tokens cached (expired ones not yet swept
// included): at most MaxEntries.
func (c *Cached) CachedTokens() int { return c.tokens.Len() }

// Evictions is the number of tokens evicted to keep MaxEntries.
func (c *Cached) Evictions() int64 { return c.tokens.Evicted() }

// Unwrap returns the store behind the cache.
func (c *Cached) Unwrap() Store { return c.s }

// StoreQueries is the number of reads that went to the underlying store
// (cache misses and uncached reads; change-feed polls are not counted).
func (c *Cached) StoreQueries() int64 { return c.queries.Load() }

// msgSyncFailed is the log message of a failed read of the change feed.
const msgSyncFailed = "token cache: reading the change feed failed"

// SyncAge is how long ago the last successful read of the change feed
// started (since NewCached when there was none): the cache may miss
// changes made elsewhere during that time, beyond SyncInterval.
func (c *Cached) SyncAge() time.Duration {
	now := c.o.Now()
	if last := c.lastOK.Load(); last != 0 {
		return now.Sub(time.Unix(0, last))
	}
	return now.Sub(c.created)
}

func (c *Cached) syncTimeout(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, max(c.o.SyncInterval, time.Second))
	defer cancel()
	return c.Sync(ctx)
}

// Sync applies the change feed now: evicts every token named since the last
// sync, or everything on a "flush" entry. The background loop calls it every
// SyncInterval; Cached calls it after its own writes.
func (c *Cached) Sync(ctx context.Context) error {
	select {
	case c.syncMu <- struct{}{}:
		defer func() { <-c.syncMu }()
	case <-ctx.Done():
		return ctx.Err()
	}
	started := c.o.Now()
	if !c.based {
		_, seq, err := c.s.Changes(ctx, -1)
		if err != nil {
			return err
		}
		c.after, c.based = seq, true
		c.lastOK.Store(started.UnixNano())
		return nil
	}
	for {
		changes, newest, err := c.s.Changes(ctx, c.after)
		if err != nil {
			return err
		}
		if len(changes) > 0 {
			c.gen.Add(1)
			for _, ch := range changes {
				if ch.Access == nil {
					c.flush()
					continue
				}
				c.tokens.Delete(string(ch.Access[:]))
				c.extras.Delete(string(ch.Access[:]))
			}
		}
		c.after = newest
		if len(changes) < changesPage {
			break
		}
	}
	c.lastOK.Store(started.UnixNano())
	return nil
}

// live reports whether cached entries may be used and new ones stored. A
// cache that has not synced for StaleIfError is emptied.
func (c *Cached) live(now time.Time) bool {
	last := c.lastOK.Load()
	if last != 0 && now.UnixNano()-last <= int64(c.o.StaleIfError) {
		return true
	}
	if c.dirty.Swap(false) {
		c.flush()
	}
	return false
}

// flush drops everything cached. The clients go first: whoever sees a
// token gone (a client deletion's tokens, say) then also finds its client
// gone, never a deleted client still cached behind an evicted token.
func (c *Cached) flush() {
	c.gen.Add(1)
	c.clients.Flush()
	c.extras.Flush()
	c.tokens.Flush()
}

// evict drops one cached token.
func (c *Cached) evict(access Digest) {
	c.gen.Add(1)
	c.tokens.Delete(string(access[:]))
	c.extras.Delete(string(access[:]))
}

// afterWrite brings this process's cache up to date with a write it just
// made (e.g. the old access token of a rotation), so that it takes effect
// here at once rather than at the next sync.
func (c *Cached) afterWrite(ctx context.Context) {
	if c.lastOK.Load() == 0 {
		return // not caching
	}
	if err := c.Sync(ctx); err != nil {
		c.o.Log.Warn(msgSyncFailed, "err", err)
	}
}

// TokenByAccess implements Store, from the cache when possible.
func (c *Cached) TokenByAccess(ctx context.Context, access Digest) (Token, error) {
	now := c.o.Now()
	live := c.live(now)
	if live {
		// The key aliases access: Get does not keep it.
		if e, ok := c.tokens.Get(unsafe.String(&access[0], len(access))); ok {
			if !e.accessExpired(now) {
				c.o.Metrics.CacheLookup(CacheTokens, true)
				return e.token(), nil
			}
			c.tokens.Delete(string(access[:]))
		}
	}
	c.o.Metrics.CacheLookup(CacheTokens, false)
	gen := c.gen.Load()
	c.queries.Add(1)
	t, err := c.s.TokenByAccess(ctx, access)
	if err != nil {
		return t, err
	}
	if live {
		c.putToken(&t, gen, now)
	}
	return t, nil
}

// CachedAccess is TokenByAccess from the cache alone, for the validation
// of a request: ok is false on a miss (the caller then asks
// TokenByAccess). A hit needs no context, counts no store query and
// allocates nothing, unlike TokenByAccess, which rebuilds a whole Token
// (refresh digest and family id included) that validation does not need.
// Only hits are counted as cache lookups: the caller's TokenByAccess
// counts the miss.
func (c *Cached) CachedAccess(access Digest) (t AccessToken, ok bool) {
	now := c.o.Now()
	if !c.live(now) {
		return t, false
	}
	e, ok := c.tokens.Get(unsafe.String(&access[0], len(access)))
	if !ok {
		return t, false
	}
	if e.accessExpired(now) {
		return t, false // TokenByAccess drops it
	}
	c.o.Metrics.CacheLookup(CacheTokens, true)
	return e.accessToken(), true
}

// CachedClient is Client from the cache alone: ok is false on a miss (the
// caller then asks Client). A hit needs no context and counts no store
// query. As with CachedAccess, only hits are counted as lookups.
func (c *Cached) CachedClient(clientID string) (Client, bool) {
	if !c.live(c.o.Now()) {
		return Client{}, false
	}
	e, ok := c.clients.Get(clientID)
	if !ok {
		return Client{}, false
	}
	c.o.Metrics.CacheLookup(CacheClients, true)
	return cloneClient(e.cl), true
}

// cloneClient copies the slices of a client, so that a caller cannot
// change the cached copy.
func cloneClient(cl Client) Client {
	cl.RedirectURIs = slices.Clone(cl.RedirectURIs)
	cl.IntrospectServices = slices.Clone(cl.IntrospectServices)
	return cl
}

// putToken caches t unless it is revoked or expired, for at most MaxTTL and
// never past the end of its access token.
func (c *Cached) putToken(t *Token, gen uint64, now time.Time) {
	if t.Revoked || t.AccessExpired(now) || !cacheable(t) {
		return
	}
	ttl := c.o.MaxTTL
	if t.ExpiresIn > 0 {
		// Valid while now - issued_at <= expires_in, in whole seconds.
		end := time.Unix(t.IssuedAt.Unix()+t.ExpiresIn+1, 0)
		ttl = min(ttl, end.Sub(now))
	}
	if ttl <= 0 {
		return
	}
	e := newTokenEntry(t)
	c.tokens.Set(e, ttl)
	c.dirty.Store(true)
	if c.gen.Load() != gen {
		c.tokens.Delete(e.key())
	}
}

// Client implements Store, from the cache when possible.
func (c *Cached) Client(ctx context.Context, clientID string) (Client, error) {
	live := c.live(c.o.Now())
	if live {
		if e, ok := c.clients.Get(clientID); ok {
			c.o.Metrics.CacheLookup(CacheClients, true)
			return cloneClient(e.cl), nil
		}
	}
	c.o.Metrics.CacheLookup(CacheClients, false)
	gen := c.gen.Load()
	c.queries.Add(1)
	cl, err := c.s.Client(ctx, clientID)
	if err != nil || !live {
		return cl, err
	}
	cached := &clientEntry{id: clientID, cl: cloneClient(cl)}
	c.clients.Set(cached, 0)
	c.dirty.Store(true)
	if c.gen.Load() != gen {
		c.clients.Delete(clientID)
	}
	return cl, nil
}

// Migrate implements Store.
func (c *Cached) Migrate(ctx context.Context) error { return c.s.Migrate(ctx) }

// CreateClient implements Store (nothing to cache: misses are not cached).
func (c *Cached) CreateClient(ctx context.Context, cl Client) error {
	return c.s.CreateClient(ctx, cl)
}

// Clients implements Store, uncached.
func (c *Cached) Clients(ctx context.Context, consumer string) ([]Client, error) {
	c.queries.Add(1)
	return c.s.Clients(ctx, consumer)
}

// DeleteClient implements Store.
func (c *Cached) DeleteClient(ctx context.Context, clientID string) error {
	err := c.s.DeleteClient(ctx, clientID)
	if err == nil {
		c.flush()
		c.afterWrite(ctx)
	}
	return err
}

// SetIntrospection implements Store.
func (c *Cached) SetIntrospection(ctx context.Context, clientID, svc string, allow bool) error {
	err := c.s.SetIntrospection(ctx, clientID, svc, allow)
	if err == nil {
		c.flush()
		c.afterWrite(ctx)
	}
	return err
}

// TokenCheckKey implements Store, uncached: the engine asks once.
func (c *Cached) TokenCheckKey(ctx context.Context) ([]byte, error) {
	c.queries.Add(1)
	return c.s.TokenCheckKey(ctx)
}

// CreateToken implements Store. The new token is cached at once: it is
// about to be used, usually on this node.
func (c *Cached) CreateToken(ctx context.Context, t Token) error {
	gen := c.gen.Load()
	if err := c.s.CreateToken(ctx, t); err != nil {
		return err
	}
	if now := c.o.Now(); c.live(now) {
		c.putToken(&t, gen, now)
	}
	return nil
}

// TokenByRefresh implements Store, uncached: refresh tokens are used once.
func (c *Cached) TokenByRefresh(ctx context.Context, refresh Digest) (Token, error) {
	c.queries.Add(1)
	return c.s.TokenByRefresh(ctx, refresh)
}

// RotateRefresh implements Store; the old access token stops validating
// here at once.
func (c *Cached) RotateRefresh(ctx context.Context, old Digest, next Token) error {
	if err := c.s.RotateRefresh(ctx, old, next); err != nil {
		return err
	}
	c.afterWrite(ctx)
	return nil
}

// ReissueAccess implements Store; the old access token stops validating
// here at once.
func (c *Cached) ReissueAccess(ctx context.Context, refresh Digest, access Digest, issuedAt time.Time, expiresIn int64, refreshExpiresAt time.Time) error {
	if err := c.s.ReissueAccess(ctx, refresh, access, issuedAt, expiresIn, refreshExpiresAt); err != nil {
		return err
	}
	c.afterWrite(ctx)
	return nil
}

// Revoke implements Store; revoked tokens stop validating here at once.
func (c *Cached) Revoke(ctx context.Context, r Revocation) (int, error) {
	n, err := c.s.Revoke(ctx, r)
	if err != nil {
		return n, err
	}
	switch {
	case r.Access != nil:
		c.evict(*r.Access)
	case r.ClientID != "", r.UserID != "":
		c.flush()
	}
	c.afterWrite(ctx)
	return n, nil
}

// PurgeExpired implements Store.
func (c *Cached) PurgeExpired(ctx context.Context, now time.Time, limit int) (int, error) {
	return c.s.PurgeExpired(ctx, now, limit)
}

// Changes implements Store.
func (c *Cached) Changes(ctx context.Context, after int64) ([]Change, int64, error) {
	return c.s.Changes(ctx, after)
}
