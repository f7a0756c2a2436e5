package plugin

import "sync"

// Upstream headers (kong/constants.lua HEADERS), set or cleared on every
// authenticated request so that copies sent by the client never reach the
// upstream (kong/BEHAVIOUR.md).
const (
	hConsumerID          = "X-Consumer-ID"
	hConsumerCustomID    = "X-Consumer-Custom-ID"
	hConsumerUsername    = "X-Consumer-Username"
	hCredentialID        = "X-Credential-Identifier"
	hAnonymous           = "X-Anonymous-Consumer"
	hAuthenticatedScope  = "X-Authenticated-Scope"
	hAuthenticatedUserID = "X-Authenticated-Userid"
)

// clearHeader removes a header upstream (Decision.Upstream).
var clearHeader = []string{}

// trueHeader is the value of X-Anonymous-Consumer for the anonymous
// consumer. Header values are shared between requests and never modified.
var trueHeader = []string{"true"}

// headerValue is the value that sets a header, or clears it when empty.
func headerValue(v string) []string {
	if v == "" {
		return clearHeader
	}
	return []string{v}
}

// headerMaps recycles the maps of Decision.Upstream: a front turns a map
// into its own form and releases the decision, so one map can serve
// request after request. Two allocations per validated
// request saved (a map is two), on the hottest path of the plugin.
var headerMaps = sync.Pool{New: func() any { return make(map[string][]string, 8) }}

func newHeaderMap() map[string][]string { return headerMaps.Get().(map[string][]string) }

func releaseHeaderMap(h map[string][]string) {
	clear(h)
	headerMaps.Put(h)
}

func consumerHeaders(c *consumerEntry) map[string][]string {
	h := newHeaderMap()
	h[hConsumerID] = c.id
	h[hConsumerCustomID] = c.customID
	h[hConsumerUsername] = c.username
	return h
}

// authenticatedHeaders are the headers of a request with a valid token.
// The per-token values live in the token's memo, so that building them
// allocates nothing.
func authenticatedHeaders(c *consumerEntry, m *tokenMemo) map[string][]string {
	h := consumerHeaders(c)
	h[hCredentialID] = m.vals[0:1:1]
	h[hAnonymous] = clearHeader
	h[hAuthenticatedScope] = clearHeader
	if m.vals[1] != "" {
		h[hAuthenticatedScope] = m.vals[1:2:2]
	}
	h[hAuthenticatedUserID] = clearHeader
	if m.vals[2] != "" {
		h[hAuthenticatedUserID] = m.vals[2:3:3]
	}
	return h
}

// anonymousHeaders are the headers of a request let through as the
// anonymous consumer.
func anonymousHeaders(c Consumer) map[string][]string {
	h := newHeaderMap()
	h[hConsumerID] = headerValue(c.ID)
	h[hConsumerCustomID] = headerValue(c.CustomID)
	h[hConsumerUsername] = headerValue(c.Username)
	h[hAnonymous] = trueHeader
	h[hCredentialID] = clearHeader
	h[hAuthenticatedScope] = clearHeader
	h[hAuthenticatedUserID] = clearHeader
	return h
}

// applyUpstream sets the upstream changes of an allowed request: the
// headers, with the credential header removed for hide_credentials, and the
// query and form body without the token if it was there
// (kong/BEHAVIOUR.md, hide_credentials).
//
// Unlike Kong, a header used as a token in its raw form (no "Bearer ") is
// removed too: hide_credentials asks that the credential not reach the
// upstream.
func (r *request) applyUpstream(h map[string][]string, ex extracted) {
	if r.s.hide && ex.fromHeader {
		h[r.s.authHeader] = clearHeader
	}
	if r.s.upstreamJWT {
		// The header is ours: a JWT the client sent there (forged, or
		// one of ours replayed) never reaches the upstream. An allowed
		// request's own JWT replaces this (setUpstreamJWT).
		h[r.s.jwtHeader] = clearHeader
	}
	r.d.Upstream = h
	if r.s.hide {
		r.d.UpstreamQuery = ex.newQuery
		r.d.UpstreamBody = ex.newBody
	}
}
