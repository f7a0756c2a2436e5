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
	entry *tokenEntry
	v     any
}

// Attach attaches v to the cached copy of the access token, for as long
// as that copy stays cached and no longer. It does nothing when the token
// is not cached.
//
// The extras map holds at most one value per cached token, expires with
// it (same TTL) and is deleted where tokens are (evict, Sync, flush).
func (c *Cached) Attach(access Digest, v any) {
	now := c.o.Now()
	if !c.live(now) {
		return
	}
	gen := c.gen.Load()
	x, exp, ok := c.tokens.GetWithExpiration(unsafe.String(&access[0], len(access)))
	if !ok {
		return
	}
	e := x.(*tokenEntry)
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
	c.extras.Set(e.key(), &attachment{entry: e, v: v}, ttl)
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
	x, ok := c.tokens.Get(k)
	if !ok {
		return nil, false
	}
	e := x.(*tokenEntry)
	a, ok := c.extras.Get(k)
	if !ok || a.(*attachment).entry != e {
		return nil, false
	}
	return a.(*attachment).v, true
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
