package plugin

import (
	"sync/atomic"

	"github.com/oauth2-password/oauth2-password/plugin/oauth"
)

// tokenMemo is what the engine keeps with the cached copy of a token
// (store.Cached.Attach): the values of its upstream headers, its upstream
// JWT, and each front's answer built for it. It is attached on the
// token's first validation on this node and lives exactly as long as that
// cached copy: revoked, expired, evicted, changed on another node or
// flushed, the token is cached again (if ever) with no memo, so nothing
// kept here outlives it (docs/performance.md).
//
// Everything but the atomics is set before the memo is shared and never
// modified after.
type tokenMemo struct {
	// vals are the credential id (the client's id: the token's client),
	// scope and authenticated userid: fixed for a cached copy, so the
	// Decision.Upstream values point into here (authenticatedHeaders).
	vals   [3]string
	jwt    atomic.Pointer[mintedJWT] // the upstream JWT, re-minted in place
	reused atomic.Bool               // found again after its first request
	fronts [memoSlots]atomic.Pointer[frontMemo]
}

// jwtCache is an optional Store extension (store.Cached): the cached
// token and what is attached to it in one lookup, and attaching.
type jwtCache interface {
	CachedAccessAttached(access oauth.Digest) (oauth.AccessToken, any, bool)
	Attach(access oauth.Digest, v any)
}

// MemoSlot names the front whose answer Decision.Remember keeps.
type MemoSlot int

// The fronts that keep an answer per token.
const (
	MemoExtAuthzGRPC MemoSlot = iota
	MemoForwardAuth
	MemoExtAuthzHTTP
	MemoKong
	memoSlots
)

// memoKey is everything besides the token's cached copy (the memo's
// owner) that Decision.Upstream of an allowed request depends on: the
// service config (hide_credentials, auth header, upstream_jwt header),
// the consumer's cache entry (its header values; a refreshed consumer is
// a new entry), the upstream JWT, and whether the token came in the auth
// header (hide_credentials removes it). A token from the query or body
// under hide_credentials rewrites those per request and is never
// remembered (memo stays nil).
type memoKey struct {
	s          *settings
	consumer   *consumerEntry
	jwt        *mintedJWT
	fromHeader bool
}

// frontMemo is one front's answer and the key it was built for.
type frontMemo struct {
	key memoKey
	v   any
}

// Remembered is what a front kept with Remember for this same token and
// the same upstream changes, or nil. A front that gets it back may answer
// with it instead of Decision.Upstream, which it matches exactly.
func (d *Decision) Remembered(slot MemoSlot) any {
	if d.memo == nil {
		return nil
	}
	if f := d.memo.fronts[slot].Load(); f != nil && f.key == d.memoKey {
		return f.v
	}
	return nil
}

// Remember keeps v, the front's answer built from this decision's
// Decision.Upstream, with the token's cached copy, so that the next
// request with the token gets it from Remembered. v must never be
// modified after: requests share it. Only a token validated before on
// this node is remembered: a token used once costs no answer kept.
func (d *Decision) Remember(slot MemoSlot, v any) {
	if d.memo != nil && d.memo.reused.Load() {
		d.memo.fronts[slot].Store(&frontMemo{key: d.memoKey, v: v})
	}
}

// tokenMemo is the memo of the validated token id: the one attached to
// its cached copy (r.memo, from the lookup), else a new one, attached
// when the token is cached.
func (r *request) tokenMemo(id *identity) *tokenMemo {
	if m := r.memo; m != nil {
		if !m.reused.Load() {
			m.reused.Store(true) // loaded first: a hot memo's line stays shared
		}
		return m
	}
	m := &tokenMemo{vals: [3]string{id.cred.ID, id.token.Scope, id.token.AuthenticatedUserID}}
	if c, ok := r.e.opt.Store.(jwtCache); ok {
		c.Attach(r.access, m)
	}
	r.memo = m
	return m
}
