package store

import (
	"unsafe"
)

// attachment is a value attached to one cached copy of a token: the
// engine's upstream JWT (docs/upstream-jwt.md), minted once per token per
// node. It names the entry it was attached to, so that it is only ever
// returned with that very entry: once the token is evicted (revoked,
// rotated, changed on another node, expired, flushed), its attachment is
// gone with it even before the delete below reaches the extras map, and a
// token cached again starts with none.
type attachment struct {
	HotBit
	entry *tokenEntry
	v     any
}

// CacheKey is the attached token's key: one attachment per cached token.
func (a *attachment) CacheKey() string { return a.entry.key() }

// Attach attaches v to the cached copy of the access token, for as long
// as that copy stays cached and no longer. It does nothing when the token
// is not cached.
//
// The extras cache holds at most one value per cached token, is bounded
// like the token cache, expires with the token (same TTL) and is deleted
// where tokens are (evict, Sync, flush); one left by an evicted token is
// never returned and goes at its expiry or under pressure.
func (c *Cached) Attach(access Digest, v any) {
	now := c.o.Now()
	if !c.live(now) {
		return
	}
	gen := c.gen.Load()
	e, exp, ok := c.tokens.GetWithExpiration(unsafe.String(&access[0], len(access)))
	if !ok {
		return
	}
	if e.accessExpired(now) {
		return
	}
	ttl := c.o.MaxTTL
	if !exp.IsZero() {
		ttl = min(ttl, exp.Sub(now))
	}
	if ttl <= 0 {
		return
	}
	c.extras.Set(&attachment{entry: e, v: v}, ttl)
	if c.gen.Load() != gen {
		c.extras.Delete(e.key())
	}
}

// Attached returns the value attached to the cached copy of the access
// token, if the token is cached and still the copy it was attached to.
// Like CachedAccess it needs no context and allocates nothing. It is
// asked right after the token was validated (expiry and cache freshness
// included), so it checks only what can have changed since: whether the
// token is still cached, as the same copy.
func (c *Cached) Attached(access Digest) (any, bool) {
	k := unsafe.String(&access[0], len(access))
	e, ok := c.tokens.Get(k)
	if !ok {
		return nil, false
	}
	a, ok := c.extras.Get(k)
	if !ok || a.entry != e {
		return nil, false
	}
	return a.v, true
}

// CachedAccessAttached is CachedAccess and Attached in one call: the
// cached token and the value attached to that very copy of it (nil when
// none), with one clock read and one lookup of the token. Validation asks
// this on every request, so the value kept with a token (the engine's
// per-token upstream answers) costs one more map lookup, not a second
// walk through the token cache.
func (c *Cached) CachedAccessAttached(access Digest) (t AccessToken, v any, ok bool) {
	now := c.o.Now()
	if !c.live(now) {
		return t, nil, false
	}
	k := unsafe.String(&access[0], len(access))
	e, ok := c.tokens.Get(k)
	if !ok || e.accessExpired(now) {
		return t, nil, false // TokenByAccess drops an expired one
	}
	c.o.Metrics.CacheLookup(CacheTokens, true)
	if a, ok := c.extras.Get(k); ok && a.entry == e {
		v = a.v
	}
	return e.accessToken(), v, true
}

// CachedAccessAttached is Cached.CachedAccessAttached once the store is
// open.
func (l *Lazy) CachedAccessAttached(access Digest) (AccessToken, any, bool) {
	if c := l.cur.Load(); c != nil {
		return c.CachedAccessAttached(access)
	}
	return AccessToken{}, nil, false
}

// Attach is Cached.Attach once the store is open.
func (l *Lazy) Attach(access Digest, v any) {
	if c := l.cur.Load(); c != nil {
		c.Attach(access, v)
	}
}

// Attached is Cached.Attached once the store is open.
func (l *Lazy) Attached(access Digest) (any, bool) {
	if c := l.cur.Load(); c != nil {
		return c.Attached(access)
	}
	return nil, false
}
